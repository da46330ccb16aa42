import { randomBytes } from "node:crypto";
import type { CachedContentInfo, CachedContentUsage, WireContent } from "./protocol.js";
import { digestRequest, type FileLookup, type RequestDigest } from "./request.js";
import { minCacheTokens, type PromptTokens, promptTokens } from "./usage.js";

/**
 * The cachedContents resources behind explicit context caching: what each cache holds, how many
 * tokens that is, and until when it lives. Pure state; HTTP lives in cached-content-routes.ts.
 */

/** Gemini's default when a cache is created with neither ttl nor expireTime. */
export const DEFAULT_CACHE_TTL_SECONDS = 3600;
const MAX_RECORDS = 1000;

export interface CachedContentRecord {
  name: string;
  /** "models/gemini-2.5-flash" */
  model: string;
  displayName: string | undefined;
  digest: RequestDigest;
  tokens: PromptTokens;
  createTime: number;
  updateTime: number;
  expireTime: number;
  deleted: boolean;
}

/** How a create/update body sets the lifetime: ttl ("300s") or expireTime (RFC 3339). */
export interface ExpiryInput {
  ttl?: string | undefined;
  expireTime?: string | undefined;
}

export interface CreateCachedContentInput {
  model: string;
  systemInstruction?: WireContent;
  contents: WireContent[];
  displayName?: string;
  expiry: ExpiryInput;
  /** Resolves fileData parts to uploaded files (checked by the caller). */
  files?: FileLookup;
}

/** A request the real service refuses with 400 INVALID_ARGUMENT. */
export class CachedContentInputError extends Error {
  override name = "CachedContentInputError";
}

/** The CachedContent resource as Gemini returns it: contents, tools and instructions are input-only. */
export interface CachedContentResource {
  name: string;
  model: string;
  createTime: string;
  updateTime: string;
  expireTime: string;
  displayName?: string;
  usageMetadata: CachedContentUsage;
}

export function resourceOf(record: CachedContentRecord): CachedContentResource {
  return {
    name: record.name,
    model: record.model,
    createTime: new Date(record.createTime).toISOString(),
    updateTime: new Date(record.updateTime).toISOString(),
    expireTime: new Date(record.expireTime).toISOString(),
    ...(record.displayName ? { displayName: record.displayName } : {}),
    usageMetadata: { totalTokenCount: record.tokens.total },
  };
}

/** "cachedContents/abc" or "abc" → "cachedContents/abc". */
export function cacheNameOf(nameOrId: string): string {
  return nameOrId.startsWith("cachedContents/") ? nameOrId : `cachedContents/${nameOrId}`;
}

const DURATION = /^(\d+(?:\.\d+)?)s$/;

/** The expiry a create/update body asks for: ttl ("300s") or expireTime (RFC 3339), not both. */
function expiryFrom(body: ExpiryInput, now: number, fallbackSeconds: number | null): number {
  if (body.ttl !== undefined && body.expireTime !== undefined) {
    throw new CachedContentInputError("ttl and expire_time cannot both be set; choose one.");
  }
  let expireTime: number;
  if (body.ttl !== undefined) {
    const seconds = Number(DURATION.exec(body.ttl)?.[1]);
    if (!Number.isFinite(seconds)) throw new CachedContentInputError(`Invalid ttl: "${body.ttl}".`);
    expireTime = now + seconds * 1000;
  } else if (body.expireTime !== undefined) {
    expireTime = Date.parse(body.expireTime);
    if (Number.isNaN(expireTime)) {
      throw new CachedContentInputError(`Invalid expire_time: "${body.expireTime}".`);
    }
  } else if (fallbackSeconds !== null) {
    expireTime = now + fallbackSeconds * 1000;
  } else {
    throw new CachedContentInputError("Either ttl or expire_time must be set.");
  }
  if (expireTime <= now) throw new CachedContentInputError("expire_time must be in the future.");
  return expireTime;
}

export class CachedContentStore {
  // Creation order; deleted and expired records stay (bounded) so tests can see what happened.
  readonly #records = new Map<string, CachedContentRecord>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Throws CachedContentInputError below the model's minimum, with Gemini's wording. */
  create(input: CreateCachedContentInput): CachedContentRecord {
    const digest = digestRequest(
      {
        contents: input.contents,
        ...(input.systemInstruction ? { systemInstruction: input.systemInstruction } : {}),
      },
      input.files,
    );
    const tokens = promptTokens(digest);
    const minimum = minCacheTokens(input.model);
    if (tokens.total < minimum) {
      throw new CachedContentInputError(
        `Cached content is too small. total_token_count=${tokens.total}, min_total_token_count=${minimum}`,
      );
    }
    const now = this.now();
    const expireTime = expiryFrom(input.expiry, now, DEFAULT_CACHE_TTL_SECONDS);
    const record: CachedContentRecord = {
      name: `cachedContents/${randomBytes(9).toString("hex")}`,
      model: input.model,
      displayName: input.displayName,
      digest,
      tokens,
      createTime: now,
      updateTime: now,
      expireTime,
      deleted: false,
    };
    this.#records.set(record.name, record);
    this.#trim();
    return record;
  }

  /** A live cache (neither deleted nor expired), by name or bare id; else null. */
  find(nameOrId: string): CachedContentRecord | null {
    const record = this.#records.get(cacheNameOf(nameOrId));
    return record && this.#isLive(record) ? record : null;
  }

  live(): CachedContentRecord[] {
    return [...this.#records.values()].filter((record) => this.#isLive(record));
  }

  /** Null when the cache is gone; throws CachedContentInputError for a bad ttl/expireTime. */
  updateExpiry(nameOrId: string, expiry: ExpiryInput): CachedContentRecord | null {
    const record = this.find(nameOrId);
    if (!record) return null;
    const now = this.now();
    record.expireTime = expiryFrom(expiry, now, null);
    record.updateTime = now;
    return record;
  }

  delete(nameOrId: string): CachedContentRecord | null {
    const record = this.find(nameOrId);
    if (record) record.deleted = true;
    return record;
  }

  /** Everything created so far (for the handle and /_emulator/cached-contents). */
  snapshot(): CachedContentInfo[] {
    return [...this.#records.values()].map((record) => ({
      name: record.name,
      model: record.model,
      tokens: record.tokens.total,
      expireTime: new Date(record.expireTime).toISOString(),
      deleted: record.deleted,
    }));
  }

  #isLive(record: CachedContentRecord): boolean {
    return !record.deleted && record.expireTime > this.now();
  }

  /** Drops the oldest dead records first, then the oldest live ones, beyond MAX_RECORDS. */
  #trim(): void {
    for (const record of [...this.#records.values()]) {
      if (this.#records.size <= MAX_RECORDS) return;
      if (!this.#isLive(record)) this.#records.delete(record.name);
    }
    for (const name of this.#records.keys()) {
      if (this.#records.size <= MAX_RECORDS) return;
      this.#records.delete(name);
    }
  }
}
