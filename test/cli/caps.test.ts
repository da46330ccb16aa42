import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { cliTestEnv } from "../helpers/cli-env.js";

const files = cliTestEnv("sl-test-caps");

const rows = async () => Number((await files.db.sql`SELECT count(*)::int AS n FROM stock_analyses`)[0]?.n);

describe("analyze with a cap the analysis cannot fit", () => {
  it.each([
    [["--max-tokens", "100"], /more than --max-tokens 100; raise the cap, or pass --allow-partial/],
    [["--max-cost", "0.0001"], /\(\$0\.\d{6}\), more than --max-cost 0\.0001; raise the cap/],
  ])(
    "%j is refused up front: exit 2, one line with the estimate and the cap, nothing written",
    async (cap, line) => {
      const before = await rows();
      const result = await runCli(["analyze", "TCS", ...cap], files.env);
      expect(result.code, result.stderr).toBe(2);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^stock-ledger: TCS: the estimate is [\d,]+ tokens \(\$0\.\d{6}\), more than/);
      expect(lines[0]).toMatch(line);
      expect(await rows()).toBe(before);
    },
  );

  it("--allow-partial queues it with its cap", async () => {
    const result = await runCli(
      ["analyze", "TCS", "--max-tokens", "100", "--allow-partial", "--json"],
      files.env,
    );
    expect(result.code, result.stderr).toBe(0);
    const [queued] = JSON.parse(result.stdout).analyses;
    const [row] = await files.db.sql`SELECT status, max_tokens FROM stock_analyses WHERE id = ${queued.id}`;
    expect(row).toEqual({ status: "queued", max_tokens: 100 });
  });

  it("a cap the estimate fits under is queued without --allow-partial", async () => {
    const result = await runCli(["analyze", "TCS", "--max-tokens", "50000", "--json"], files.env);
    expect(result.code, result.stderr).toBe(0);
  });
});
