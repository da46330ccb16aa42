import type { Sql } from "./database.js";

/** The daily budget the reservations are held against (undefined: that kind is not capped). */
export interface DailyCaps {
  tokens?: number | undefined;
  /** Decimal USD. */
  costUsd?: string | undefined;
}

export interface DailyReservationRequest {
  analysisId: string;
  callType: string;
  attempt: number;
  /** The call's worst case. */
  tokens: number;
  /** Decimal USD; null when the model has no price (refused under a cost budget). */
  costUsd: string | null;
  /** After this long a reservation nobody released (a killed worker) lapses. */
  ttlMs: number;
}

export type DailyReservation =
  | { ok: true; id: string }
  | { ok: false; spentTokens: number; heldTokens: number; spentCostUsd: string; heldCostUsd: string };

/** One lock for every worker's daily-budget decisions: check and insert must not interleave. */
const DAILY_BUDGET_LOCK = "stock-ledger:daily-budget";

/**
 * Reserves a call's worst case against today's (UTC) budget: today's calls in llm_calls plus
 * the reservations still held, plus this one, must stay within each cap. Serialised across
 * workers by a transaction-scoped advisory lock, so two calls can never both take the last room.
 */
export async function reserveDailySpend(
  sql: Sql,
  caps: DailyCaps,
  request: DailyReservationRequest,
): Promise<DailyReservation> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${DAILY_BUDGET_LOCK}))`;
    await tx`DELETE FROM spend_reservations WHERE expires_at < now()`;
    const [row] = await tx<
      {
        spent_tokens: number;
        held_tokens: number;
        spent_cost: string;
        held_cost: string;
        fits: boolean;
        id: string | null;
      }[]
    >`
      WITH spent AS (
        SELECT COALESCE(sum(total_tokens), 0)::bigint AS tokens, COALESCE(sum(cost_usd), 0)::numeric AS cost
        FROM llm_calls
        WHERE started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      ), held AS (
        SELECT COALESCE(sum(tokens), 0)::bigint AS tokens, COALESCE(sum(cost_usd), 0)::numeric AS cost
        FROM spend_reservations WHERE day = (now() AT TIME ZONE 'UTC')::date
      ), verdict AS (
        SELECT spent.tokens AS spent_tokens, held.tokens AS held_tokens,
               spent.cost AS spent_cost, held.cost AS held_cost,
               (${caps.tokens ?? null}::bigint IS NULL
                  OR spent.tokens + held.tokens + ${request.tokens}::bigint <= ${caps.tokens ?? null}::bigint)
               AND (${caps.costUsd ?? null}::numeric IS NULL
                  OR (${request.costUsd}::numeric IS NOT NULL
                      AND spent.cost + held.cost + ${request.costUsd}::numeric <= ${caps.costUsd ?? null}::numeric)) AS fits
        FROM spent, held
      ), reserved AS (
        INSERT INTO spend_reservations (analysis_id, call_type, attempt, tokens, cost_usd, expires_at)
        SELECT ${request.analysisId}, ${request.callType}, ${request.attempt}, ${request.tokens},
               ${request.costUsd}::numeric, now() + ${request.ttlMs} * interval '1 millisecond'
        FROM verdict WHERE fits
        RETURNING id
      )
      SELECT v.spent_tokens, v.held_tokens, v.spent_cost::numeric(24, 12)::text AS spent_cost,
             v.held_cost::numeric(24, 12)::text AS held_cost, v.fits, r.id::text AS id
      FROM verdict v LEFT JOIN reserved r ON TRUE`;
    if (row?.fits && row.id) return { ok: true, id: row.id };
    return {
      ok: false,
      spentTokens: row?.spent_tokens ?? 0,
      heldTokens: row?.held_tokens ?? 0,
      spentCostUsd: row?.spent_cost ?? "0",
      heldCostUsd: row?.held_cost ?? "0",
    };
  });
}

/** Drops a reservation once its call's closing row is committed (its spend is then in llm_calls). */
export async function releaseDailySpend(sql: Sql, id: string): Promise<void> {
  await sql`DELETE FROM spend_reservations WHERE id = ${id}`;
}

/** Reservations held now (for tests and /budget). */
export async function heldDailySpend(sql: Sql): Promise<{ reservations: number; tokens: number }> {
  const [row] = await sql<{ reservations: number; tokens: number }[]>`
    SELECT count(*)::int AS reservations, COALESCE(sum(tokens), 0)::bigint AS tokens
    FROM spend_reservations WHERE expires_at >= now()`;
  return row ?? { reservations: 0, tokens: 0 };
}
