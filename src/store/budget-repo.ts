import { type Picodollars, usdToPico } from "../ledger/money.js";
import type { Sql } from "./database.js";

export interface DaySpend {
  tokens: number;
  costPico: Picodollars;
  /** Start of the next UTC day, when the daily budget resets. */
  resetsAt: Date;
}

/** Tokens and cost of every call made since 00:00 UTC today, on Postgres' clock. */
export async function spentToday(sql: Sql): Promise<DaySpend> {
  const [row] = await sql<{ tokens: number; cost: string; resets_at: Date }[]>`
    SELECT COALESCE(sum(total_tokens), 0)::bigint AS tokens,
           COALESCE(sum(cost_usd), 0)::numeric(24, 12)::text AS cost,
           (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC' AS resets_at
    FROM llm_calls
    WHERE started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
  return {
    tokens: row?.tokens ?? 0,
    costPico: usdToPico(row?.cost ?? "0"),
    resetsAt: row?.resets_at ?? new Date(),
  };
}

/** Records that today's budget of `kind` crossed `threshold`; true only for the first to record it. */
export async function recordBudgetAlert(
  sql: Sql,
  alert: { kind: "tokens" | "cost"; threshold: number; spent: string; budget: string },
): Promise<boolean> {
  const rows = await sql`
    INSERT INTO budget_alerts (day, kind, threshold, spent, budget)
    VALUES ((now() AT TIME ZONE 'UTC')::date, ${alert.kind}, ${alert.threshold}, ${alert.spent}, ${alert.budget})
    ON CONFLICT DO NOTHING
    RETURNING day`;
  return rows.length > 0;
}
