/**
 * Which chart images this process has already uploaded through the Files API, by digest, so
 * each is sent once and then referenced by uri. No SDK here: the upload itself is injected.
 */

/** An image the pipeline sends, with the sha256 digest it already computed. */
export interface ImageToUpload {
  digest: string;
  mimeType: string;
  /** base64 */
  data: string;
}

export interface UploadedFile {
  uri: string;
  mimeType: string;
  /** RFC 3339, as the provider reported it; undefined when it did not. */
  expirationTime: string | undefined;
}

export interface UploadedImage {
  fileUri: string;
  mimeType: string;
  /** When to stop referring to it: a safety margin before the provider drops it. */
  expiresAt: number;
}

/** Who asked first, for the provider's request attribution and for the failure's log line. */
export interface UploadContext {
  analysisId: string;
  callType: string;
}

export interface ImageUploadsOptions {
  upload(image: ImageToUpload, context: UploadContext): Promise<UploadedFile>;
  /** Called once per failed upload (not for the callers that shared it). */
  onUploadFailed?(error: unknown, image: ImageToUpload, context: UploadContext): void;
  /** Digests remembered; the least recently used is forgotten beyond it. Default 512. */
  maxEntries?: number;
  /** Stop using a file this long before its expirationTime. Default 1 h (Gemini keeps files 48 h). */
  expiryMarginMs?: number;
  /** After a failed upload, send that image inline for this long before trying again. Default 30 s. */
  retryAfterFailureMs?: number;
  now?: () => number;
}

/** The knobs a client may set (tests shorten the retry delay or move the clock). */
export type UploadTuning = Partial<
  Pick<ImageUploadsOptions, "maxEntries" | "expiryMarginMs" | "retryAfterFailureMs" | "now">
>;

/** Gemini's lifetime, used when an upload reports no expirationTime. */
const DEFAULT_FILE_LIFETIME_MS = 48 * 3600_000;

type Entry =
  | { state: "uploading"; done: Promise<UploadedImage | null> }
  | { state: "ready"; file: UploadedImage }
  | { state: "failed"; retryAt: number };

export class ImageUploads {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #marginMs: number;
  readonly #retryAfterMs: number;
  readonly #now: () => number;

  constructor(private readonly options: ImageUploadsOptions) {
    this.#maxEntries = options.maxEntries ?? 512;
    this.#marginMs = options.expiryMarginMs ?? 3600_000;
    this.#retryAfterMs = options.retryAfterFailureMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The uploaded file for this image, uploading it if needed; callers asking for the same
   * digest meanwhile share that upload. Null means "send it inline": the upload failed, or
   * failed recently. Rejects only when `signal` aborts the wait (the upload goes on for others).
   */
  fileFor(image: ImageToUpload, context: UploadContext, signal?: AbortSignal): Promise<UploadedImage | null> {
    const entry = this.#entries.get(image.digest);
    if (entry) {
      this.#touch(image.digest, entry);
      if (entry.state === "uploading") return abortable(entry.done, signal);
      if (this.#fresh(entry)) return Promise.resolve(entry.file);
      if (entry.state === "failed" && entry.retryAt > this.#now()) return Promise.resolve(null);
    }
    return abortable(this.#upload(image, context), signal);
  }

  /** The uploaded files of a prompt's images that have a digest, by digest; the others go inline. */
  async filesFor(
    images: readonly { digest?: string | undefined; mimeType: string; data: string }[],
    context: UploadContext,
    signal?: AbortSignal,
  ): Promise<Map<string, UploadedImage>> {
    const files = new Map<string, UploadedImage>();
    await Promise.all(
      images.map(async ({ digest, mimeType, data }) => {
        if (digest === undefined) return;
        const file = await this.fileFor({ digest, mimeType, data }, context, signal);
        if (file) files.set(digest, file);
      }),
    );
    return files;
  }

  /**
   * The same answer as `filesFor`, at once, when every image with a digest is already uploaded
   * and fresh (the common case once a ticker's charts went up); null when one is not.
   */
  readyFiles(
    images: readonly { digest?: string | undefined; mimeType: string; data: string }[],
  ): Map<string, UploadedImage> | null {
    const files = new Map<string, UploadedImage>();
    for (const { digest } of images) {
      if (digest === undefined) continue;
      const entry = this.#entries.get(digest);
      if (!entry || !this.#fresh(entry)) return null;
      this.#touch(digest, entry);
      files.set(digest, entry.file);
    }
    return files;
  }

  /** Drops a file the provider no longer has, unless the digest already points elsewhere. */
  forget(digest: string, fileUri: string): void {
    const entry = this.#entries.get(digest);
    if (entry?.state === "ready" && entry.file.fileUri === fileUri) this.#entries.delete(digest);
  }

  get size(): number {
    return this.#entries.size;
  }

  #upload(image: ImageToUpload, context: UploadContext): Promise<UploadedImage | null> {
    const done = this.options.upload(image, context).then(
      (file) => {
        const uploaded: UploadedImage = {
          fileUri: file.uri,
          mimeType: file.mimeType || image.mimeType,
          expiresAt: expiryOf(file, this.#now()) - this.#marginMs,
        };
        // Kept only if still ours (not forgotten or evicted meanwhile) and not already too old:
        // the callers that waited use it either way.
        if (this.#entries.get(image.digest) === entry) {
          if (uploaded.expiresAt > this.#now())
            this.#entries.set(image.digest, { state: "ready", file: uploaded });
          else this.#entries.delete(image.digest);
        }
        return uploaded;
      },
      (error: unknown) => {
        if (this.#entries.get(image.digest) === entry) {
          this.#entries.set(image.digest, { state: "failed", retryAt: this.#now() + this.#retryAfterMs });
        }
        this.options.onUploadFailed?.(error, image, context);
        return null;
      },
    );
    const entry: Entry = { state: "uploading", done };
    this.#touch(image.digest, entry);
    return done;
  }

  /** An uploaded file still safe to refer to. */
  #fresh(entry: Entry): entry is Extract<Entry, { state: "ready" }> {
    return entry.state === "ready" && entry.file.expiresAt > this.#now();
  }

  /** Most recently used last, so the first key is the one to drop. */
  #touch(digest: string, entry: Entry): void {
    this.#entries.delete(digest);
    this.#entries.set(digest, entry);
    if (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }
}

function expiryOf(file: UploadedFile, now: number): number {
  const at = file.expirationTime === undefined ? Number.NaN : Date.parse(file.expirationTime);
  return Number.isNaN(at) ? now + DEFAULT_FILE_LIFETIME_MS : at;
}

/** Waits for `work` unless `signal` aborts first; the work itself is not cancelled. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function abortError(): Error {
  const error = new Error("stopped waiting for the image upload");
  error.name = "AbortError";
  return error;
}
