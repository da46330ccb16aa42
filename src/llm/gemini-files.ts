import { GoogleAIFileManager, type RequestOptions } from "@google/generative-ai/server";
import type { Logger } from "../logger.js";
import { LlmCallError, mapSdkError } from "./errors.js";
import { ImageUploads, type UploadedFile, type UploadTuning } from "./image-uploads.js";

/**
 * The adapter's other SDK file: uploads through @google/generative-ai 0.24's GoogleAIFileManager
 * (a Buffer, one multipart POST to {base}/upload/v1beta/files).
 */

export interface FileUploadTarget {
  apiKey: string;
  /** Without a trailing slash (the SDK would build "//upload/..."); undefined for Google's. */
  baseUrl: string | undefined;
}

export interface FileUpload {
  bytes: Buffer;
  mimeType: string;
  displayName: string;
  /** Attribution headers, as generateContent sends them. */
  headers: Record<string, string>;
  timeoutMs: number;
}

/**
 * One upload under our own deadline. uploadFile takes no per-call options, but the manager's
 * `signal` reaches fetch (its `timeout` would leave a timer behind), so each upload gets a
 * manager of its own. The timer is unref'd: an upload in flight never holds a stopping process.
 */
export async function uploadFile(target: FileUploadTarget, upload: FileUpload): Promise<UploadedFile> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), upload.timeoutMs);
  timer.unref();
  const options: RequestOptions & { signal: AbortSignal } = {
    ...(target.baseUrl ? { baseUrl: target.baseUrl } : {}),
    customHeaders: upload.headers,
    signal: controller.signal,
  };
  try {
    const response = await new GoogleAIFileManager(target.apiKey, options).uploadFile(upload.bytes, {
      mimeType: upload.mimeType,
      displayName: upload.displayName,
    });
    const file = (response as Partial<typeof response> | null)?.file;
    if (!file?.uri) throw new LlmCallError("malformed_output", "files upload answered without a file uri");
    return { uri: file.uri, mimeType: file.mimeType, expirationTime: file.expirationTime };
  } catch (error) {
    throw mapSdkError(error, { timedOut: controller.signal.aborted, timeoutMs: upload.timeoutMs });
  } finally {
    clearTimeout(timer);
  }
}

/** Uploads that take longer than this (or half the call's deadline) are given up: the call goes inline. */
const MAX_UPLOAD_MS = 10_000;

/** The client's chart upload cache, uploading through `uploadFile` and warning on failures. */
export function chartUploads(
  target: FileUploadTarget,
  options: {
    timeoutMs: number;
    logger: Logger;
    tuning?: UploadTuning | undefined;
  },
): ImageUploads {
  return new ImageUploads({
    ...options.tuning,
    upload: (image, context) =>
      uploadFile(target, {
        bytes: Buffer.from(image.data, "base64"),
        mimeType: image.mimeType,
        displayName: `stock-ledger chart ${image.digest.slice(0, 16)}`,
        headers: {
          "x-stock-ledger-analysis-id": context.analysisId,
          "x-stock-ledger-call-type": context.callType,
        },
        timeoutMs: Math.min(MAX_UPLOAD_MS, Math.ceil(options.timeoutMs / 2)),
      }),
    onUploadFailed: (error, image, context) =>
      options.logger.warn(
        { ...context, digest: image.digest, err: error instanceof Error ? error.message : String(error) },
        "chart upload failed; sending it inline",
      ),
  });
}
