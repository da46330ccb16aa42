/**
 * Gemini's image tile rule, shared by the worker (it reserves an image's tokens before a call)
 * and the emulator (it bills them).
 *
 * What one image costs, the way Gemini 2.x documents it: an image with both sides ≤ 384 px is
 * one 258-token tile; a larger one is cut into square crop units of floor(min side / 1.5) px,
 * each billed as a tile. Sizes come from the image header; anything we cannot read is one tile.
 */

/** Tokens per tile, and so for any small or unreadable image. */
export const TOKENS_PER_IMAGE = 258;
/** Images with both sides at most this many pixels are a single tile. */
export const SMALL_IMAGE_MAX_SIDE = 384;
/** Enough base64 to reach a JPEG's frame header past typical EXIF/ICC segments; the rest is never decoded. */
const JPEG_SCAN_BASE64_CHARS = 512 * 1024;

export interface ImageSize {
  width: number;
  height: number;
}

export function imageTokens(width: number, height: number): number {
  if (!isSide(width) || !isSide(height)) return TOKENS_PER_IMAGE;
  if (width <= SMALL_IMAGE_MAX_SIDE && height <= SMALL_IMAGE_MAX_SIDE) return TOKENS_PER_IMAGE;
  // A 1-px side would make the unit 0; one pixel is the smallest crop there is.
  const cropUnit = Math.max(1, Math.floor(Math.min(width, height) / 1.5));
  return TOKENS_PER_IMAGE * Math.ceil(width / cropUnit) * Math.ceil(height / cropUnit);
}

function isSide(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height from a base64 PNG's IHDR chunk (always the first), or null if it is not one. */
export function pngSize(base64: string): ImageSize | null {
  // 24 bytes: signature, chunk length, "IHDR", width, height.
  const bytes = Buffer.from(base64.slice(0, 32), "base64");
  if (bytes.length < 24 || PNG_SIGNATURE.some((byte, index) => bytes[index] !== byte)) return null;
  if (bytes.toString("latin1", 12, 16) !== "IHDR") return null;
  return sized(bytes.readUInt32BE(16), bytes.readUInt32BE(20));
}

/** Start-of-frame markers (baseline, progressive, lossless...); C4, C8 and CC are not frames. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Width and height from a base64 JPEG's start-of-frame segment, or null if not found early on. */
export function jpegSize(base64: string): ImageSize | null {
  const head = Buffer.from(base64.slice(0, 4), "base64");
  if (head[0] !== 0xff || head[1] !== 0xd8) return null;
  const bytes = Buffer.from(base64.slice(0, JPEG_SCAN_BASE64_CHARS), "base64");
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return null;
    const marker = bytes[offset + 1] ?? 0;
    if (marker === 0xff) {
      offset++; // fill byte before a marker
      continue;
    }
    // Standalone markers carry no length.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      offset += 2;
      continue;
    }
    // Scan data starts with SOS: a frame header would have come before it.
    if (marker === 0xd9 || marker === 0xda) return null;
    const length = bytes.readUInt16BE(offset + 2);
    if (length < 2) return null;
    if (isStartOfFrame(marker)) {
      // Segment: length(2) precision(1) height(2) width(2).
      if (offset + 9 > bytes.length) return null;
      return sized(bytes.readUInt16BE(offset + 7), bytes.readUInt16BE(offset + 5));
    }
    offset += 2 + length;
  }
  return null;
}

function sized(width: number, height: number): ImageSize | null {
  return width > 0 && height > 0 ? { width, height } : null;
}

/**
 * Tokens for an inline image: tiled from its PNG or JPEG header when readable, else one tile.
 * The bytes decide the format, not the declared mimeType, as a decoder would.
 */
export function inlineImageTokens(base64: string | undefined): number {
  if (!base64) return TOKENS_PER_IMAGE;
  const size = pngSize(base64) ?? jpegSize(base64);
  return size ? imageTokens(size.width, size.height) : TOKENS_PER_IMAGE;
}
