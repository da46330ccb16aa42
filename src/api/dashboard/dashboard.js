// stock-ledger dashboard: plain browser JavaScript served as is, no build step.
// Every value from the API reaches the page through textContent or setAttribute, never
// innerHTML, so a ticker or an error message can only ever show up as text.

const POLL_MS = 2000;
// The per-day charts refresh when the recent list changes, and at least this often.
const DAILY_EVERY_N_POLLS = 15;
const DAYS_SHOWN = 14;
const STAGES = [
  "indicator_summary",
  "comprehensive_overview",
  "volume_analysis",
  "reversal_patterns",
  "continuation_levels",
  "final_decision",
];
const STATUSES = ["queued", "running", "completed", "partial", "failed", "budget_exceeded"];
const SVG_NS = "http://www.w3.org/2000/svg";

const state = { selectedId: null, followNewest: true, polls: 0, listSignature: "" };

// ---------- small DOM helpers (text only) ----------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const $ = (id) => document.getElementById(id);
const int = (n) => Math.round(Number(n) || 0).toLocaleString("en-US");
const usd = (n) => (n === null || n === undefined ? "–" : `$${Number(n).toFixed(6)}`);
const compact = (n) => {
  const v = Number(n) || 0;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return String(Math.round(v));
};
const pad = (n) => String(n).padStart(2, "0");
function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
const statusClass = (status) => (STATUSES.includes(status) ? status : "");

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { accept: "application/json", ...(options.headers || {}) },
  });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new Error(
      body && typeof body === "object" && body.message ? body.message : `HTTP ${response.status}`,
    );
  }
  return body;
}

// ---------- recent analyses ----------

function renderAnalyses(analyses) {
  const rows = analyses.map((a) => {
    const tr = el(
      "tr",
      { data: { analysisId: a.id, status: a.status }, title: a.id },
      el("td", {}, el("strong", { text: a.ticker })),
      el("td", {}, el("span", { class: `badge ${statusClass(a.status)}`, text: a.status })),
      el("td", { class: "num", text: int(a.llm_calls_count) }),
      el("td", { class: "num", text: int(a.total_tokens) }),
      el("td", { class: "num", text: usd(a.cost_usd) }),
      el("td", { text: when(a.created_at) }),
      el("td", { class: "error-cell", text: a.error || "" }),
    );
    if (a.error) tr.lastChild.setAttribute("title", a.error);
    if (a.id === state.selectedId) tr.classList.add("selected");
    tr.addEventListener("click", () => select(a.id, true));
    return tr;
  });
  document.querySelector("#analyses-table tbody").replaceChildren(...rows);
  $("analyses-empty").hidden = analyses.length > 0;
}

function select(id, byUser) {
  if (byUser) state.followNewest = false;
  state.selectedId = id;
  history.replaceState(null, "", `#analysis=${encodeURIComponent(id)}`);
  for (const tr of document.querySelectorAll("#analyses-table tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.analysisId === id);
  }
  void refreshDetail();
}

// ---------- one analysis ----------

/** Per-stage sums over the analysis' calls, so a running analysis' chart grows live. */
function stageTotals(calls) {
  const byStage = new Map();
  for (const c of calls) {
    const s = byStage.get(c.call_type) || {
      stage: c.call_type,
      input: 0,
      output: 0,
      cost: 0,
      attempts: 0,
      failed: 0,
    };
    s.input += c.input_tokens;
    s.output += c.output_tokens;
    s.cost += Number(c.cost_usd) || 0;
    s.attempts += 1;
    if (c.status !== "success") s.failed += 1;
    byStage.set(c.call_type, s);
  }
  const known = STAGES.filter((t) => byStage.has(t));
  const others = [...byStage.keys()].filter((t) => !STAGES.includes(t)).sort();
  return [...known, ...others].map((t) => byStage.get(t));
}

function renderStageChart(stages) {
  const box = $("stage-chart");
  if (stages.length === 0) {
    box.replaceChildren(el("p", { class: "muted", text: "No LLM calls yet." }));
    return;
  }
  const width = 640;
  const labelW = 170;
  const barW = 300;
  const rowH = 28;
  const top = 6;
  const height = top + stages.length * rowH + 4;
  const max = Math.max(1, ...stages.map((s) => s.input + s.output));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  stages.forEach((s, i) => {
    const y = top + i * rowH;
    const inW = (s.input / max) * barW;
    const outW = (s.output / max) * barW;
    const g = svg("g", { class: "stage-bar", "data-stage": s.stage });
    g.append(
      svg(
        "title",
        {},
        `${s.stage}: ${int(s.input)} input + ${int(s.output)} output tokens, ${usd(s.cost)}, ` +
          `${s.attempts} attempt(s), ${s.failed} failed`,
      ),
      svg("text", { x: labelW - 8, y: y + 15, "text-anchor": "end" }, s.stage),
      svg("rect", { class: "bar-input", x: labelW, y: y + 3, width: inW.toFixed(1), height: 16, rx: 2 }),
      svg("rect", {
        class: "bar-output",
        x: (labelW + inW).toFixed(1),
        y: y + 3,
        width: outW.toFixed(1),
        height: 16,
        rx: 2,
      }),
      svg(
        "text",
        { x: (labelW + inW + outW + 6).toFixed(1), y: y + 15, class: "axis" },
        `${compact(s.input + s.output)} · ${usd(s.cost)}${s.failed ? ` · ${s.failed} failed` : ""}`,
      ),
    );
    chart.append(g);
  });
  const legend = el(
    "div",
    { class: "legend" },
    el("span", { class: "input", text: "input tokens" }),
    el("span", { class: "output", text: "output tokens (incl. thinking)" }),
  );
  box.replaceChildren(legend, chart);
}

function renderDetail(a) {
  $("detail").hidden = false;
  $("detail").dataset.analysisId = a.id;
  $("detail").dataset.status = a.status;
  $("detail-title").textContent = `${a.ticker} · ${a.id}`;
  const facts = [
    ["Status", a.status],
    ["Model", a.model],
    ["Calls", `${int(a.llm_calls_count)} (${int(a.failed_calls_count)} failed)`],
    ["Duration", a.duration_ms === null ? "–" : `${(a.duration_ms / 1000).toFixed(2)} s`],
    ["Input tokens", int(a.total_input_tokens)],
    ["Output tokens", int(a.total_output_tokens)],
    ["Thinking", int(a.thinking_tokens)],
    ["Cached input", int(a.cached_input_tokens)],
    ["Total tokens", int(a.total_tokens)],
    ["Cost", usd(a.cost_usd)],
  ];
  if (a.batch || a.batch_saved_usd > 0) facts.push(["Saved by batch", usd(a.batch_saved_usd)]);
  if (a.decision && typeof a.decision === "object" && a.decision.action) {
    facts.push(["Decision", `${a.decision.action} (${Number(a.decision.confidence).toFixed(2)})`]);
  }
  $("detail-totals").replaceChildren(
    ...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))),
  );
  renderStageChart(stageTotals(a.calls || []));
  const error = $("detail-error");
  error.hidden = !a.error;
  error.textContent = a.error ? `Error: ${a.error}` : "";
  renderReportFrame(a);
  $("detail-summary-link").setAttribute("href", `/analyses/${encodeURIComponent(a.id)}/summary`);
  $("detail-json-link").setAttribute("href", `/analyses/${encodeURIComponent(a.id)}`);
}

/**
 * The analysis' HTML report in a sandboxed frame (the report has no script, so the sandbox
 * grants nothing). The detail refreshes every poll; the frame is only replaced when the
 * analysis or its status changes, since drawing the report's charts costs the server time.
 */
function renderReportFrame(a) {
  const box = $("detail-report");
  const key = `${a.id}:${a.status}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "");
  frame.setAttribute("title", "Analysis report");
  frame.setAttribute("referrerpolicy", "no-referrer");
  frame.dataset.analysisId = a.id;
  frame.src = `/analyses/${encodeURIComponent(a.id)}/report?format=html`;
  box.replaceChildren(frame);
  $("detail-report-link").setAttribute("href", frame.src);
}

async function refreshDetail() {
  const id = state.selectedId;
  if (!id) return;
  const analysis = await api(`/analyses/${encodeURIComponent(id)}`);
  if (state.selectedId === id) renderDetail(analysis);
}

// ---------- per-day charts ----------

function renderDailyChart(box, days, series, format) {
  const width = 640;
  const height = 170;
  const left = 64;
  const bottom = 22;
  const plotH = height - bottom - 8;
  const slot = (width - left) / days.length;
  const barW = Math.max(4, slot * 0.65);
  const max = Math.max(...days.map((d) => series.reduce((sum, s) => sum + s.value(d), 0)));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  const scale = max > 0 ? plotH / max : 0;
  for (const frac of max > 0 ? [0, 0.5, 1] : [0]) {
    const y = 8 + plotH - frac * plotH;
    chart.append(
      svg("line", { class: "grid-line", x1: left, x2: width, y1: y, y2: y }),
      svg("text", { class: "axis", x: left - 6, y: y + 4, "text-anchor": "end" }, format(max * frac)),
    );
  }
  days.forEach((d, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let y = 8 + plotH;
    const g = svg("g", { "data-day": d.day });
    g.append(
      svg("title", {}, `${d.day}: ${series.map((s) => `${s.label} ${format(s.value(d))}`).join(", ")}`),
    );
    for (const s of series) {
      const h = s.value(d) * scale;
      y -= h;
      g.append(
        svg("rect", {
          class: s.className,
          x: x.toFixed(1),
          y: y.toFixed(1),
          width: barW.toFixed(1),
          height: h.toFixed(1),
        }),
      );
    }
    // Label today and every other day before it.
    if ((days.length - 1 - i) % 2 === 0 || days.length <= 7) {
      g.append(
        svg(
          "text",
          { class: "axis", x: (x + barW / 2).toFixed(1), y: height - 6, "text-anchor": "middle" },
          d.day.slice(5),
        ),
      );
    }
    chart.append(g);
  });
  const legend = el(
    "div",
    { class: "legend" },
    ...series.map((s) => el("span", { class: s.legend, text: s.label })),
  );
  box.replaceChildren(legend, chart);
}

const dollars = (v) => (v === 0 ? "$0" : `$${v < 0.01 ? v.toFixed(5) : v.toFixed(2)}`);

async function refreshDaily() {
  const { days, tickers } = await api(`/usage/daily?days=${DAYS_SHOWN}`);
  renderDailyChart(
    $("daily-tokens-chart"),
    days,
    [
      { label: "input", className: "bar-input", legend: "input", value: (d) => d.input_tokens },
      { label: "output", className: "bar-output", legend: "output", value: (d) => d.output_tokens },
    ],
    compact,
  );
  renderDailyChart(
    $("daily-cost-chart"),
    days,
    [{ label: "cost", className: "bar-cost", legend: "cost", value: (d) => d.cost_usd }],
    dollars,
  );
  renderDailyChart(
    $("daily-saved-chart"),
    days,
    [
      {
        label: "reuse",
        className: "bar-reuse",
        legend: "reuse",
        value: (d) => d.reuse_cost_saved_usd,
      },
      {
        label: "caching",
        className: "bar-cache",
        legend: "cache",
        value: (d) => d.cache_cost_saved_usd,
      },
      {
        label: "batch mode",
        className: "bar-batch",
        legend: "batch",
        value: (d) => d.batch_saved_usd,
      },
    ],
    dollars,
  );
  renderSavingsTable(tickers);
}

// ---------- savings ----------

function renderSavingsTable(tickers) {
  const rows = tickers.map((t) =>
    el(
      "tr",
      { data: { ticker: t.ticker } },
      el("td", {}, el("strong", { text: t.ticker })),
      el("td", { class: "num", text: int(t.reuse_tokens_saved) }),
      el("td", { class: "num", text: usd(t.reuse_cost_saved_usd) }),
      el("td", { class: "num", text: int(t.cached_input_tokens) }),
      el("td", { class: "num", text: usd(t.cache_cost_saved_usd) }),
      el("td", { class: "num", text: usd(t.batch_saved_usd) }),
    ),
  );
  document.querySelector("#savings-table tbody").replaceChildren(...rows);
  $("savings-empty").hidden = tickers.length > 0;
}

// ---------- daily budget ----------

const percent = (fraction) => `${(fraction * 100).toFixed(1)}%`;

function budgetMeter(kind, amount, threshold, format) {
  const label =
    amount.budget === null
      ? `${kind}: ${format(amount.spent)} spent, no budget`
      : `${kind}: ${format(amount.spent)} of ${format(amount.budget)} (${percent(amount.fraction)})`;
  const box = el("div", { class: "budget-meter", data: { kind } }, el("div", { text: label }));
  if (amount.budget !== null) {
    // low = the alert threshold, high = the whole budget: the browser colours it.
    box.append(
      el("meter", {
        min: "0",
        max: "1",
        low: String(threshold),
        high: "0.999999",
        optimum: "0",
        value: String(Math.min(1, amount.fraction)),
        title: label,
      }),
    );
  }
  return box;
}

function renderBudget(b) {
  const configured = b.tokens.budget !== null || b.cost_usd.budget !== null;
  $("budget").dataset.configured = String(configured);
  $("budget-meters").replaceChildren(
    budgetMeter("Tokens", b.tokens, b.alert_threshold, int),
    budgetMeter("Cost", b.cost_usd, b.alert_threshold, usd),
  );
  $("budget-none").hidden = configured;
  $("budget-note").textContent = configured
    ? `Alert at ${percent(b.alert_threshold)}; at 100% new analyses are ` +
      `${b.when_exceeded === "queue" ? "queued" : "refused"} until ${when(b.resets_at)}.`
    : `Resets at ${when(b.resets_at)}.`;
  $("budget-alerts").replaceChildren(
    ...b.alerts.map((a) =>
      el("li", {
        class: a.threshold >= 1 ? "reached" : "",
        text:
          `${when(a.created_at).slice(11)} ${a.kind} ${a.threshold >= 1 ? "budget reached" : `alert at ${percent(a.threshold)}`}: ` +
          `${a.kind === "cost" ? usd(a.spent) : int(a.spent)} of ${a.kind === "cost" ? usd(a.budget) : int(a.budget)}`,
      }),
    ),
  );
}

async function refreshBudget() {
  renderBudget(await api("/budget"));
}

// ---------- polling ----------

async function refresh() {
  const { analyses } = await api("/analyses?limit=25");
  if (state.followNewest && analyses[0] && analyses[0].id !== state.selectedId) {
    state.selectedId = analyses[0].id;
  }
  renderAnalyses(analyses);
  const signature = analyses.map((a) => `${a.id}:${a.status}:${a.total_tokens}`).join(",");
  const jobs = [refreshDetail()];
  if (signature !== state.listSignature || state.polls % DAILY_EVERY_N_POLLS === 0) {
    state.listSignature = signature;
    jobs.push(refreshDaily(), refreshBudget());
  }
  await Promise.all(jobs);
  state.polls += 1;
}

async function poll() {
  const status = $("live-status");
  if (document.visibilityState !== "hidden") {
    try {
      await refresh();
      status.textContent = `live · updated ${when(new Date().toISOString()).slice(11)}`;
      status.classList.remove("stale");
    } catch (error) {
      status.textContent = `not updating: ${error.message}`;
      status.classList.add("stale");
    }
  }
  setTimeout(poll, POLL_MS);
}

// ---------- enqueue form ----------

async function enqueue(event) {
  event.preventDefault();
  const message = $("enqueue-message");
  const button = $("enqueue-button");
  const tickers = $("tickers-input")
    .value.split(/[\s,]+/)
    .filter(Boolean);
  const model = $("model-input").value.trim();
  const token = $("token-input").value.trim();
  const body = { tickers, ...(model ? { model } : {}) };
  button.disabled = true;
  message.classList.remove("bad");
  message.textContent = "Enqueueing…";
  try {
    const result = await api("/analyses", {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    message.textContent = `Queued ${result.analyses.map((a) => `${a.ticker} (${a.id})`).join(", ")}`;
    $("tickers-input").value = "";
    if (result.analyses[0]) {
      state.followNewest = false;
      select(result.analyses[0].id, false);
    }
    await refresh();
  } catch (error) {
    message.classList.add("bad");
    message.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

function start() {
  const fromHash = /^#analysis=(.+)$/.exec(location.hash);
  if (fromHash) {
    state.selectedId = decodeURIComponent(fromHash[1]);
    state.followNewest = false;
  }
  $("enqueue-form").addEventListener("submit", enqueue);
  void poll();
}

start();
