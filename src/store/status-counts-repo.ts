import { ANALYSIS_STATUSES, type AnalysisStatus } from "./analyses-repo.js";
import type { Sql } from "./database.js";

export type StatusCounts = Record<AnalysisStatus, number>;

/** Rows created this long ago or more are counted in the kept base; newer ones at every read. */
const SETTLED_AFTER = "1 hour";

interface Base {
  /** False when too many old analyses were open to track: reads count the whole table. */
  kept: boolean;
  cutoff: Date;
  /** Ended analyses created before the cutoff, by status: these never change again. */
  ended: StatusCounts;
  /** Analyses created before the cutoff and still open then: re-read by id at every read. */
  openIds: string[];
  takenAt: number;
}

const zeroCounts = (): StatusCounts =>
  Object.fromEntries(ANALYSIS_STATUSES.map((status) => [status, 0])) as StatusCounts;

/** `n` is a count(*)::bigint, which postgres.js returns as a string. */
function addCounts(into: StatusCounts, rows: readonly { status: AnalysisStatus; n: string }[]): StatusCounts {
  for (const row of rows) into[row.status] += Number(row.n);
  return into;
}

/**
 * Analyses by status, equal at every read to a GROUP BY over all of `stock_analyses`, without
 * scanning it on every /metrics scrape (~0.2 s at a million analyses, growing with the table).
 * An ended analysis never changes status again (claims and finalizes skip ended rows; only
 * queued, never-run analyses are ever deleted), so ended analyses created before a cutoff are
 * counted once per `baseMaxAgeMs` and kept. Each read adds the analyses created since the
 * cutoff (the `created_at` index) and the current status of those that were still open at the
 * cutoff (by id: the backlog, not the table), in one statement and so one snapshot.
 */
export class AnalysisStatusCounter {
  #base: Base | null = null;

  readonly #baseMaxAgeMs: number;
  readonly #maxTrackedOpen: number;
  readonly #now: () => number;

  constructor(
    private readonly sql: Sql,
    options: {
      baseMaxAgeMs?: number;
      /**
       * Above this many analyses still open among the old ones (a huge deferred backlog), their
       * ids are not kept: reads count the whole table until the next base.
       */
      maxTrackedOpen?: number;
      now?: () => number;
    } = {},
  ) {
    this.#baseMaxAgeMs = options.baseMaxAgeMs ?? 10 * 60_000;
    this.#maxTrackedOpen = options.maxTrackedOpen ?? 20_000;
    this.#now = options.now ?? Date.now;
  }

  async read(): Promise<StatusCounts> {
    if (!this.#base || this.#now() - this.#base.takenAt >= this.#baseMaxAgeMs) {
      this.#base = await this.#takeBase();
    }
    const base = this.#base;
    if (!base.kept) return addCounts(zeroCounts(), await this.#countAll());
    const changing = await this.sql<{ status: AnalysisStatus; n: string }[]>`
      SELECT status, count(*)::bigint AS n FROM stock_analyses
      WHERE created_at >= ${base.cutoff} OR id = ANY(${base.openIds}::text[])
      GROUP BY status`;
    return addCounts({ ...base.ended }, changing);
  }

  #countAll() {
    return this.sql<{ status: AnalysisStatus; n: string }[]>`
      SELECT status, count(*)::bigint AS n FROM stock_analyses GROUP BY status`;
  }

  /**
   * The old rows in one statement, so no analysis can end between being left out of the ended
   * counts and being left out of the open ids.
   */
  async #takeBase(): Promise<Base> {
    const takenAt = this.#now();
    // now() is the transaction's start: the same instant in both halves of the statement.
    const rows = await this.sql<
      { status: AnalysisStatus | null; n: string; cutoff: Date | null; ids: string[] | null }[]
    >`
      SELECT NULL AS status, 0::bigint AS n, now() - ${SETTLED_AFTER}::interval AS cutoff, NULL AS ids
      UNION ALL
      SELECT status, count(*)::bigint, NULL,
             array_agg(id) FILTER (WHERE status IN ('queued', 'running'))
      FROM stock_analyses WHERE created_at < now() - ${SETTLED_AFTER}::interval
      GROUP BY status`;
    let cutoff = new Date(0);
    const ended = zeroCounts();
    const openIds: string[] = [];
    for (const row of rows) {
      if (row.status === null) cutoff = row.cutoff ?? cutoff;
      else if (row.ids) openIds.push(...row.ids);
      else ended[row.status] += Number(row.n);
    }
    const kept = openIds.length <= this.#maxTrackedOpen;
    return { kept, cutoff, ended, openIds: kept ? openIds : [], takenAt };
  }
}
