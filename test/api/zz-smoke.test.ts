import { it } from "vitest";
import { startApiHarness } from "./api-harness.js";

it("smoke", async () => {
  const h = await startApiHarness();
  for (const [m, u, b] of [
    ["POST", "/analyses", { ticker: "x" }],
    ["POST", "/analyses", "notjson"],
    ["POST", "/analyses", { tickers: "TCS" }],
    ["POST", "/analyses", { tickers: ["TCS"], id: "abc", model: "X" }],
    ["POST", "/analyses", { tickers: ["TCS", "INFY"], id: "abc" }],
  ] as const) {
    const r = await h.app.inject({
      method: m,
      url: u,
      ...(b ? { payload: b } : {}),
      headers: typeof b === "string" ? { "content-type": "application/json" } : {},
    });
    console.log(m, u, r.statusCode, r.headers["content-type"], r.body.slice(0, 300));
  }
  const r = await h.app.inject({ method: "GET", url: "/openapi.json" });
  const doc = JSON.parse(r.body);
  console.log(Object.keys(doc.components.schemas), JSON.stringify(doc.paths, null, 1).slice(0, 5000));
  const s = await h.app.inject({ method: "POST", url: "/analyses", payload: { tickers: ["TCS"] } });
  const id = JSON.parse(s.body).analyses[0].id;
  const t = await h.app.inject({ method: "GET", url: `/analyses/${id}/summary` });
  console.log(t.headers, t.body);
  await h.close();
});
