import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.js";
import { foldAllPendingRollups } from "../../src/store/rollups-repo.js";
import { BATCH_FIXTURE, insertBatchFixture } from "../store/batch-savings-fixture.js";
import { type ApiHarness, startApiHarness } from "./api-harness.js";

/** The dashboard's savings view and analysis view show what batch mode saved (hand sums: batch-savings-fixture.ts). */

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(projectRoot, "test-artifacts");

let api: ApiHarness;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  api = await startApiHarness({ listen: true });
  await insertBatchFixture(api.db.sql, new Date(Date.now() - 120_000));
  await foldAllPendingRollups(api.db.sql);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on("console", (message) => {
    // The browser asks for /favicon.ico on its own; the dashboard has none.
    const url = message.location().url;
    if (message.type() === "error" && !url.endsWith("/favicon.ico"))
      consoleErrors.push(`${url}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`pageerror: ${error.message}`));
  await page.goto(`${api.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
});

describe("dashboard batch savings", () => {
  it("charts the day's batch saving and lists it per ticker", async () => {
    const cells = (ticker: string) =>
      page.$$eval(`#savings-table tbody tr[data-ticker="${ticker}"] td`, (tds) =>
        tds.map((td) => td.textContent),
      );
    await expect
      .poll(() => cells("TCS"), { timeout: 15_000 })
      .toEqual(["TCS", "0", "$0.000000", "50,000", "$0.050000", "$0.257500"]);
    expect((await cells("RELIANCE")).at(-1)).toBe("$0.003450");
    expect(await page.$$eval("#savings-table thead th", (ths) => ths.at(-1)?.textContent)).toBe(
      "Batch saved",
    );
    const batchBars = await page.$$eval("#daily-saved-chart rect.bar-batch", (rects) =>
      rects
        .filter((r) => Number(r.getAttribute("height")) > 0)
        .map((r) => r.parentElement?.getAttribute("data-day")),
    );
    expect(batchBars).toEqual([new Date().toISOString().slice(0, 10)]);
    expect(await page.textContent("#daily-saved-chart .legend .batch")).toBe("batch mode");
    await page.locator("#daily").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-batch-savings.png"), fullPage: true });
  });

  it("shows an analysis' batch saving among its totals", async () => {
    await page.locator(`#analyses-table tbody tr[data-analysis-id="${BATCH_FIXTURE.reliance}"]`).click();
    await page.waitForSelector(`#detail[data-analysis-id="${BATCH_FIXTURE.reliance}"]`);
    expect(await page.textContent('#detail-totals div:has(dt:text-is("Saved by batch")) dd')).toBe(
      "$0.003450",
    );
    await page.locator(`#analyses-table tbody tr[data-analysis-id="${BATCH_FIXTURE.infy}"]`).click();
    await page.waitForSelector(`#detail[data-analysis-id="${BATCH_FIXTURE.infy}"]`);
    expect(await page.textContent("#detail-totals")).not.toContain("Saved by batch");
    expect(consoleErrors).toEqual([]);
  });
});
