import type { Sql } from "./database.js";

/** A `budget_alerts` row: today's budget of `kind` crossed `threshold` (1 = all of it). */
export interface BudgetAlertRow {
  kind: "tokens" | "cost";
  threshold: number;
  /** Tokens, or USD, as recorded when the alert fired. */
  spent: number;
  budget: number;
  created_at: Date;
}

/** The alerts recorded for one UTC day ("YYYY-MM-DD"), in the order they fired. */
export async function budgetAlertsOn(sql: Sql, day: string): Promise<BudgetAlertRow[]> {
  const rows = await sql<
    { kind: "tokens" | "cost"; threshold: string; spent: string; budget: string; created_at: Date }[]
  >`
    SELECT kind, threshold::text, spent::text, budget::text, created_at
    FROM budget_alerts WHERE day = ${day}::date
    ORDER BY created_at, kind, threshold`;
  return rows.map((r) => ({
    kind: r.kind,
    threshold: Number(r.threshold),
    spent: Number(r.spent),
    budget: Number(r.budget),
    created_at: r.created_at,
  }));
}
