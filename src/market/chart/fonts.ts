import { existsSync } from "node:fs";

/** What resvg gets for drawing text: font files, the family they hold, or a system scan. */
export interface ChartFonts {
  files: string[];
  family: string | null;
  /** True when none of the known files exist: resvg then scans the system's font folders. */
  loadSystemFonts: boolean;
}

// Common places of a plain sans-serif font; the first family found wins. Regular and bold
// are both loaded so titles render bold instead of falling back to regular.
const CANDIDATES: { family: string; files: string[] }[] = [
  {
    family: "DejaVu Sans", // Debian/Ubuntu fonts-dejavu-core
    files: [
      "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
      "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ],
  },
  {
    family: "DejaVu Sans", // Alpine font-dejavu, Arch ttf-dejavu
    files: ["/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"],
  },
  {
    family: "DejaVu Sans",
    files: ["/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"],
  },
  {
    family: "DejaVu Sans", // Fedora dejavu-sans-fonts
    files: [
      "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
      "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    ],
  },
  {
    family: "Liberation Sans",
    files: [
      "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
      "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ],
  },
  {
    family: "Arial",
    files: [
      "/System/Library/Fonts/Supplemental/Arial.ttf",
      "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    ],
  },
  { family: "Arial", files: ["C:\\Windows\\Fonts\\arial.ttf", "C:\\Windows\\Fonts\\arialbd.ttf"] },
];

let cached: ChartFonts | undefined;

/**
 * Finds a font once per process. Loading one known file is much faster than resvg's system
 * scan; when there is no font at all, charts still render, only without their text.
 */
export function chartFonts(): ChartFonts {
  cached ??= findFonts();
  return cached;
}

function findFonts(): ChartFonts {
  for (const candidate of CANDIDATES) {
    const files = candidate.files.filter((file) => existsSync(file));
    if (files.length > 0 && files[0] === candidate.files[0]) {
      return { files, family: candidate.family, loadSystemFonts: false };
    }
  }
  return { files: [], family: null, loadSystemFonts: true };
}
