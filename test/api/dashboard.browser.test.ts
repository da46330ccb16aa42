import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { watchTrackerRegistry } from "../../src/metrics/worker-metrics.js";
import { projectRoot } from "../../src/paths.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import { type ApiHarness, startApiHarness, startTestWorker } from "./api-harness.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(projectRoot, "test-artifacts");
const XSS = "<script>alert(1)</script>";

let api: ApiHarness;
let emulator: EmulatorHandle;
let worker: WorkerRuntime;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];
/** Console errors and uncaught exceptions of the page and of every frame in it. */
const consoleErrors: string[] = [];
let completedId = "";

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  emulator = await startEmulator({ latencyMs: 60, latencyJitterMs: 60 });
  api = await startApiHarness({ listen: true });
  worker = await startTestWorker(api.config, emulator);
  watchTrackerRegistry(worker.resources.registry);
  // An analysis whose error text is markup: the page must show it as text, never run it.
  await api.db.sql`
    INSERT INTO stock_analyses (id, ticker, model, status, created_at, completed_at, error)
    VALUES ('an-xss-error', 'XSS', 'gemini-2.5-flash', 'failed', now() - interval '1 minute', now(), ${XSS})`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${message.location().url}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`pageerror: ${error.message}`));
  await page.goto(`${api.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await worker?.close(5_000);
  await api?.close();
  await emulator?.close();
});

/** The two properties of an <img> the report test reads (no DOM lib in this project's types). */
type LoadedImage = { complete: boolean; naturalWidth: number };

const row = (id: string) => page.locator(`#analyses-table tbody tr[data-analysis-id="${id}"]`);

describe("dashboard in a real browser", () => {
  it("enqueues a ticker through the form and shows it complete with its stage breakdown", async () => {
    await page.fill("#tickers-input", "reliance");
    await page.click("#enqueue-button");
    await expect.poll(() => page.textContent("#enqueue-message")).toMatch(/^Queued RELIANCE \(an_/);
    const id = ((await page.textContent("#enqueue-message")) ?? "").match(/\((an_[^)]+)\)/)?.[1] ?? "";
    completedId = id;

    await page.waitForSelector(`#detail[data-analysis-id="${id}"][data-status="completed"]`, {
      timeout: 30_000,
    });
    await page.waitForSelector(
      `${`#analyses-table tbody tr[data-analysis-id="${id}"]`}[data-status="completed"]`,
    );
    const stages = await page.$$eval("#stage-chart [data-stage]", (nodes) =>
      nodes.map((n) => n.getAttribute("data-stage")),
    );
    expect(stages).toEqual([
      "indicator_summary",
      "comprehensive_overview",
      "volume_analysis",
      "reversal_patterns",
      "continuation_levels",
      "final_decision",
    ]);
    const [stored] = await api.db.sql<{ total_tokens: number; ticker: string }[]>`
      SELECT total_tokens, ticker FROM stock_analyses WHERE id = ${id}`;
    expect(stored?.ticker).toBe("RELIANCE");
    const totals = await page.textContent("#detail-totals");
    expect(totals).toContain((stored?.total_tokens ?? -1).toLocaleString("en-US"));
    expect(await row(id).locator(".badge").textContent()).toBe("completed");

    // The per-day charts pick the run up as soon as the list shows it ended.
    const drawnBars = (selector: string) =>
      page.$$eval(selector, (rects) => rects.filter((r) => Number(r.getAttribute("height")) > 0).length);
    await expect.poll(() => drawnBars("#daily-tokens-chart rect.bar-input"), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => drawnBars("#daily-cost-chart rect.bar-cost"), { timeout: 15_000 }).toBe(1);
    // Budget: none configured here, so the section says so and shows today's spend alone.
    await page.waitForSelector('#budget[data-configured="false"]');
    expect(await page.isVisible("#budget-none")).toBe(true);
    await expect
      .poll(() => page.textContent('#budget-meters [data-kind="Tokens"]'), { timeout: 15_000 })
      .toBe(`Tokens: ${(stored?.total_tokens ?? -1).toLocaleString("en-US")} spent, no budget`);
    expect(await page.$$eval("#budget-meters meter", (nodes) => nodes.length)).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-completed.png"), fullPage: true });
  });

  it("shows the analysis' HTML report in a sandboxed frame: decision, six stages, four charts", async () => {
    expect(completedId).not.toBe("");
    consoleErrors.length = 0;
    await row(completedId).click();
    const frameSelector = `#detail-report[data-key="${completedId}:completed"] iframe`;
    await page.waitForSelector(frameSelector);
    expect(await page.getAttribute(frameSelector, "sandbox")).toBe("");
    expect(await page.getAttribute(frameSelector, "title")).toBe("Analysis report");
    expect(await page.getAttribute(frameSelector, "src")).toBe(
      `/analyses/${encodeURIComponent(completedId)}/report?format=html`,
    );

    const report = page.frameLocator(frameSelector);
    const [stored] = await api.db.sql<{ decision: { action: string } | null }[]>`
      SELECT decision FROM stock_analyses WHERE id = ${completedId}`;
    const action = stored?.decision?.action ?? "";
    expect(action).not.toBe("");
    const actionValue = report.locator('dl.facts dt:text-is("Action") + dd');
    await actionValue.waitFor({ state: "visible", timeout: 15_000 });
    expect(await actionValue.textContent()).toBe(action);

    const stageHeadings = report.locator("section > h3");
    expect(await stageHeadings.allTextContents()).toEqual([
      "indicator_summary",
      "comprehensive_overview",
      "volume_analysis",
      "reversal_patterns",
      "continuation_levels",
      "final_decision",
    ]);

    const images = report.locator("figure img");
    expect(await images.count()).toBe(4);
    await expect
      .poll(() => images.evaluateAll((imgs) => imgs.map((i) => (i as unknown as LoadedImage).complete)))
      .toEqual([true, true, true, true]);
    const widths = await images.evaluateAll((imgs) =>
      imgs.map((i) => (i as unknown as LoadedImage).naturalWidth),
    );
    for (const width of widths) expect(width).toBeGreaterThan(0);

    // The frame runs no script, and nothing in the page or the frame complained (a CSP
    // violation, a blocked frame or image would show up here as a console error).
    const frame = page.frames().find((f) => f.url().includes("/report?format=html"));
    expect(frame).toBeDefined();
    expect(await frame?.$$eval("script", (nodes) => nodes.length)).toBe(0);
    await page.locator("#detail-report").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-report-frame.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
    expect(dialogs).toEqual([]);
  });

  it("shows error text holding <script> as text and runs nothing", async () => {
    await row("an-xss-error").click();
    await page.waitForSelector('#detail[data-analysis-id="an-xss-error"]');
    expect(await page.textContent("#detail-error")).toBe(`Error: ${XSS}`);
    expect(await row("an-xss-error").locator("td.error-cell").textContent()).toBe(XSS);
    // Only the dashboard's own script element exists; no dialog ever opened.
    expect(await page.$$eval("script", (nodes) => nodes.map((n) => n.getAttribute("src")))).toEqual([
      "/dashboard.js",
    ]);
    expect(dialogs).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-error-text.png"), fullPage: true });
  });

  it("shows the API's refusal of a bad ticker as text", async () => {
    await page.fill("#tickers-input", "<b>bad</b>");
    await page.click("#enqueue-button");
    await expect
      .poll(() => page.textContent("#enqueue-message"))
      .toContain('invalid tickers[0] "<b>bad</b>"');
    expect(await page.$$eval("#enqueue-message *", (nodes) => nodes.length)).toBe(0);
    expect(await page.getAttribute("#enqueue-message", "class")).toContain("bad");
    expect(dialogs).toEqual([]);
  });
});
