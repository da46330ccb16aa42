/**
 * Prints the self-time summary of a `node --cpu-prof` profile directory or file.
 * `npx tsx bench/profile-summary.ts DIR|FILE [--skip-ms N] [--top N]`
 */
import { summarizeProfiles } from "./lib/profile.js";
import { numberArg } from "./lib/report.js";

const target = process.argv[2];
if (!target) {
  process.stderr.write("profile-summary: give a directory or .cpuprofile file\n");
  process.exit(2);
}
console.log(
  summarizeProfiles(target, {
    skipMs: numberArg(process.argv, "skip-ms", 0),
    top: numberArg(process.argv, "top", 30),
  }),
);
