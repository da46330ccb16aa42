import { describe, expect, it } from "vitest";
import { type ImageToUpload, ImageUploads, type UploadedFile } from "../../src/llm/image-uploads.js";

/** The upload cache's own rules, with a counting upload function and a settable clock. */

const HOUR = 3600_000;
const image = (digest: string): ImageToUpload => ({ digest, mimeType: "image/png", data: "iVBORw0KGgo=" });
const context = { analysisId: "an-1", callType: "comprehensive_overview" };

function uploads(options: { lifetimeMs?: number; maxEntries?: number; fail?: boolean } = {}) {
  let now = 1_000_000;
  const started: string[] = [];
  const release: (() => void)[] = [];
  const cache = new ImageUploads({
    now: () => now,
    maxEntries: options.maxEntries ?? 512,
    upload: async (img): Promise<UploadedFile> => {
      started.push(img.digest);
      await new Promise<void>((resolve) => release.push(resolve));
      if (options.fail) throw new Error("upload refused");
      const expirationTime = new Date(now + (options.lifetimeMs ?? 48 * HOUR)).toISOString();
      return { uri: `files/${img.digest}-${started.length}`, mimeType: img.mimeType, expirationTime };
    },
  });
  const settle = async () => {
    while (release.length > 0) release.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { cache, started, settle, advance: (ms: number) => (now += ms) };
}

describe("ImageUploads", () => {
  it("shares one upload between concurrent callers and reuses it until the margin before expiry", async () => {
    const { cache, started, settle, advance } = uploads();
    const waiting = [cache.fileFor(image("a"), context), cache.fileFor(image("a"), context)];
    await settle();
    const [first, second] = await Promise.all(waiting);
    expect(started).toEqual(["a"]);
    expect(second).toEqual(first);
    expect(first?.fileUri).toBe("files/a-1");

    advance(46 * HOUR);
    expect(await cache.fileFor(image("a"), context)).toEqual(first);
    advance(1 * HOUR + 1); // within the last hour of the file's 48
    const renewed = cache.fileFor(image("a"), context);
    await settle();
    expect((await renewed)?.fileUri).toBe("files/a-2");
  });

  it("answers at once only when every image is uploaded and fresh, as filesFor would", async () => {
    const { cache, settle, advance } = uploads();
    const noDigest = { mimeType: "image/png", data: "iVBORw0KGgo=" };
    expect(cache.readyFiles([noDigest])).toEqual(new Map()); // nothing to upload
    expect(cache.readyFiles([image("a")])).toBeNull(); // never uploaded
    const pending = cache.filesFor([image("a"), image("b")], context);
    expect(cache.readyFiles([image("a")])).toBeNull(); // still uploading
    await settle();
    const files = await pending;
    expect(cache.readyFiles([image("a"), noDigest, image("b")])).toEqual(files);
    expect(cache.readyFiles([image("a"), image("c")])).toBeNull(); // one missing is enough
    advance(47 * HOUR + 1); // inside the expiry margin: filesFor would upload again
    expect(cache.readyFiles([image("a")])).toBeNull();
  });

  it("forgets a file only if the digest still points at it", async () => {
    const { cache, started, settle } = uploads();
    const pending = cache.fileFor(image("a"), context);
    await settle();
    const file = await pending;
    cache.forget("a", "files/other");
    expect(await cache.fileFor(image("a"), context)).toEqual(file);
    cache.forget("a", file?.fileUri ?? "");
    const again = cache.fileFor(image("a"), context);
    await settle();
    await again;
    expect(started).toEqual(["a", "a"]);
  });

  it("keeps at most maxEntries digests, dropping the least recently used", async () => {
    const { cache, started, settle } = uploads({ maxEntries: 2 });
    for (const digest of ["a", "b", "a", "c", "a", "b"]) {
      const pending = cache.fileFor(image(digest), context);
      await settle();
      await pending;
    }
    // "b" was the least recently used when "c" came in.
    expect(started).toEqual(["a", "b", "c", "b"]);
    expect(cache.size).toBe(2);
  });

  it("answers null (inline) for a failed upload, shared by the callers waiting on it", async () => {
    const { cache, started, settle } = uploads({ fail: true });
    const waiting = [cache.fileFor(image("a"), context), cache.fileFor(image("a"), context)];
    await settle();
    expect(await Promise.all(waiting)).toEqual([null, null]);
    expect(await cache.fileFor(image("a"), context)).toBeNull();
    expect(started).toEqual(["a"]);
  });

  it("stops a caller's wait when its signal aborts, leaving the upload to the others", async () => {
    const { cache, settle } = uploads();
    const controller = new AbortController();
    const aborted = cache.fileFor(image("a"), context, controller.signal);
    const other = cache.fileFor(image("a"), context);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    await settle();
    expect((await other)?.fileUri).toBe("files/a-1");
  });

  it("does not keep a file whose lifetime is shorter than the margin", async () => {
    const { cache, started, settle } = uploads({ lifetimeMs: 10 * 60_000 });
    for (let i = 0; i < 2; i++) {
      const pending = cache.fileFor(image("a"), context);
      await settle();
      expect(await pending).not.toBeNull();
    }
    expect(started).toEqual(["a", "a"]);
  });
});
