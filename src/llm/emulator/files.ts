import { createHash, randomBytes } from "node:crypto";
import { inlineImageTokens } from "../image-tokens.js";
import type { UploadedFileInfo } from "./protocol.js";
import { type FileImage, imageKeyOf } from "./request.js";

/**
 * The Files API's state: uploaded bytes by name, until they expire (48 h on Gemini), are
 * deleted, or are pushed out by newer uploads beyond the byte bound. Pure state; HTTP lives in
 * file-routes.ts.
 */

export const DEFAULT_FILE_TTL_MS = 48 * 3600_000;
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

export interface FileRecord {
  /** "files/<id>" */
  name: string;
  uri: string;
  mimeType: string;
  displayName: string | undefined;
  bytes: Buffer;
  sha256Hash: string;
  createTime: number;
  expirationTime: number;
  /** How a prompt reads it when it is an image: the same identity and tiles as its bytes inline. */
  image: FileImage;
  /** GENERATED files (batch outputs) are the only ones Gemini lets a client download. */
  source: FileSource;
}

export type FileSource = "UPLOADED" | "GENERATED";

export interface UploadInput {
  bytes: Buffer;
  mimeType: string;
  displayName?: string | undefined;
  /** "files/<id>" or "<id>" asked for by the client; a random id when absent. */
  name?: string | undefined;
  /** Where this emulator is reached, for the file's uri ("http://127.0.0.1:8787/v1beta"). */
  apiRoot: string;
}

/** A request the real service refuses with 400 INVALID_ARGUMENT. */
export class FileInputError extends Error {
  override name = "FileInputError";
}

/** An upload naming a file that already exists (409 ALREADY_EXISTS). */
export class FileExistsError extends Error {
  override name = "FileExistsError";
}

/** Gemini's rule for a file id: up to 40 lowercase letters, digits or dashes, no dash at either end. */
const FILE_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
/** The id in "files/<id>", ".../v1beta/files/<id>" or a bare "<id>". */
const FILE_REFERENCE = /^(?:(?:.*\/)?files\/)?([a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)$/;

/** The file id a name or uri refers to, or null when it is not shaped like one. */
export function fileIdOf(reference: string): string | null {
  return FILE_REFERENCE.exec(reference.split(/[?#]/)[0] ?? "")?.[1] ?? null;
}

/** ".../v1beta/files/<id>" → ".../download/v1beta/files/<id>:download?alt=media", Gemini's download route. */
export function downloadUriOf(uri: string): string {
  return `${uri.replace(/\/(v1[a-z0-9]*)\/files\//, "/download/$1/files/")}:download?alt=media`;
}

/** The File resource as Gemini returns it. */
export function fileResourceOf(record: FileRecord): Record<string, unknown> {
  return {
    name: record.name,
    ...(record.displayName ? { displayName: record.displayName } : {}),
    mimeType: record.mimeType,
    sizeBytes: String(record.bytes.length),
    createTime: new Date(record.createTime).toISOString(),
    updateTime: new Date(record.createTime).toISOString(),
    expirationTime: new Date(record.expirationTime).toISOString(),
    sha256Hash: record.sha256Hash,
    uri: record.uri,
    ...(record.source === "GENERATED" ? { downloadUri: downloadUriOf(record.uri) } : {}),
    state: "ACTIVE",
    source: record.source,
  };
}

export interface FileLimits {
  ttlMs: number;
  maxBytes: number;
}

export class FileStore {
  // Least recently used first: a lookup moves a file to the end.
  readonly #records = new Map<string, FileRecord>();
  #bytes = 0;
  #uploaded = 0;

  constructor(
    private readonly limits: FileLimits = { ttlMs: DEFAULT_FILE_TTL_MS, maxBytes: DEFAULT_MAX_FILE_BYTES },
    private readonly now: () => number = Date.now,
  ) {}

  upload(input: UploadInput): FileRecord {
    const record = this.#add(input, "UPLOADED");
    this.#uploaded++;
    return record;
  }

  /** A file the service wrote (a batch's responses): held like an upload, not counted as one. */
  generate(input: Omit<UploadInput, "name">): FileRecord {
    return this.#add(input, "GENERATED");
  }

  #add(input: UploadInput, source: FileSource): FileRecord {
    const id = input.name === undefined ? randomBytes(6).toString("hex") : input.name.replace(/^files\//, "");
    if (!FILE_ID.test(id)) {
      throw new FileInputError(
        `Invalid file name "${input.name}": up to 40 lowercase letters, digits or dashes, not starting or ending with a dash.`,
      );
    }
    const name = `files/${id}`;
    if (this.find(name)) throw new FileExistsError(`File ${name} already exists.`);
    if (input.bytes.length > this.limits.maxBytes) {
      throw new FileInputError(
        `File size ${input.bytes.length} exceeds the limit of ${this.limits.maxBytes} bytes.`,
      );
    }
    const base64 = input.bytes.toString("base64");
    const now = this.now();
    const record: FileRecord = {
      name,
      uri: `${input.apiRoot}/${name}`,
      mimeType: input.mimeType,
      displayName: input.displayName,
      bytes: input.bytes,
      // Gemini reports the hex digest, base64-encoded.
      sha256Hash: Buffer.from(createHash("sha256").update(input.bytes).digest("hex")).toString("base64"),
      createTime: now,
      expirationTime: now + this.limits.ttlMs,
      image: { mimeType: input.mimeType, key: imageKeyOf(base64), tokens: inlineImageTokens(base64) },
      source,
    };
    this.#dropExpired();
    this.#records.set(name, record);
    this.#bytes += record.bytes.length;
    for (const old of this.#records.values()) {
      if (this.#bytes <= this.limits.maxBytes) break;
      this.#remove(old);
    }
    return record;
  }

  /** A live file by name, id or uri; counts as a use for the LRU bound. */
  find(reference: string): FileRecord | null {
    const id = fileIdOf(reference);
    const record = id === null ? undefined : this.#records.get(`files/${id}`);
    if (!record) return null;
    if (record.expirationTime <= this.now()) {
      this.#remove(record);
      return null;
    }
    this.#records.delete(record.name);
    this.#records.set(record.name, record);
    return record;
  }

  /** What a prompt's fileData part resolves to, or null for an unknown, deleted or expired file. */
  readonly lookup = (fileUri: string): FileImage | null => this.find(fileUri)?.image ?? null;

  delete(reference: string): boolean {
    const record = this.find(reference);
    if (record) this.#remove(record);
    return record !== null;
  }

  live(): FileRecord[] {
    this.#dropExpired();
    return [...this.#records.values()];
  }

  snapshot(): UploadedFileInfo[] {
    return this.live().map((record) => ({
      name: record.name,
      uri: record.uri,
      mimeType: record.mimeType,
      sizeBytes: record.bytes.length,
      expirationTime: new Date(record.expirationTime).toISOString(),
    }));
  }

  /** Successful uploads since start. */
  get uploaded(): number {
    return this.#uploaded;
  }

  #dropExpired(): void {
    const now = this.now();
    for (const record of [...this.#records.values()]) {
      if (record.expirationTime <= now) this.#remove(record);
    }
  }

  #remove(record: FileRecord): void {
    if (this.#records.delete(record.name)) this.#bytes -= record.bytes.length;
  }
}
