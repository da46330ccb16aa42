/** The markdown capacity plan bench/capacity.ts prints: measured figures, ceilings, and the plan per RPM. */
import os from "node:os";
import {
  PGBENCH_ARGS,
  type PgCeiling,
  REDIS_BENCHMARK_ARGS,
  type RedisCeiling,
} from "./capacity-ceilings.js";
import type { WindowResult } from "./capacity-window.js";
import { fmt } from "./report.js";

export interface Plan {
  rpms: number[];
  /** Mean seconds per Gemini call and analyses in flight per worker: the plan's pace. */
  latencyS: number;
  planConcurrency: number;
  /** WORKER_CONCURRENCY of the latency-0 window. */
  concurrency: number;
  llmRpm: number;
  /** Load averages over the run, to read the figures by. */
  loads: string;
}

/** The pipeline's two waves: five stages at once, then the final decision. */
const WAVES = 2;
const CALLS = 6;
const pct = (x: number) => `${fmt(100 * x, x < 0.1 ? 2 : 1)}%`;
const n0 = (x: number) => fmt(x, 0);
const n1 = (x: number) => fmt(x, 1);
const n2 = (x: number) => fmt(x, 2);

export function capacityReport(
  w: { fast: WindowResult; plan: WindowResult },
  redis: RedisCeiling,
  pg: PgCeiling,
  plan: Plan,
): string {
  const p = w.plan;
  const row = (label: string, f: (r: WindowResult) => string) => `| ${label} | ${f(w.fast)} | ${f(p)} |`;
  const byConcurrency = plan.planConcurrency / (WAVES * plan.latencyS);
  const byCpu = 1000 / p.workerCpuMs;
  const perWorker = Math.min(byCpu, byConcurrency);
  const redisByCpu = 1000 / p.redisCpuMs;
  /** PgBouncer's queries/s at a full core, at the CPU per query it spent under pgbench. */
  const bouncerFullCore = pg.bouncerQps / pg.bouncerCoreShare;
  const bouncerByCpu = bouncerFullCore / p.pgStatements;
  /** Redis' CPU per command when busier (latency 0), applied to the paced window's commands. */
  const redisLoadedMs = (w.fast.redisCpuMs / w.fast.redisCommands) * p.redisCommands;
  const lines = [
    `Measured on this machine (${os.availableParallelism()} cores; load average ${plan.loads}), ${p.analyses} analyses per window, each through a fresh \`stock-ledger worker\` process: queue on a private redis-server, ledger through a private PgBouncer 1.18 (transaction pooling, DATABASE_POOLING=transaction; DATABASE_LISTEN_URL straight to PostgreSQL), shared rate limiter on (LLM_RPM=${plan.llmRpm}, never reached).`,
    "",
    `| per analysis | latency 0, WORKER_CONCURRENCY ${plan.concurrency} | paced: ${plan.latencyS} s ±50 % per call, WORKER_CONCURRENCY ${plan.planConcurrency} |`,
    "| --- | ---: | ---: |",
    row("analyses/s of the one worker", (r) => n1(r.analysesPerSec)),
    row("LLM calls (ledger rows)", (r) => n1(r.llmCalls)),
    row("Redis commands (INFO commandstats; a script's own commands included)", (r) => n1(r.redisCommands)),
    row("… most frequent", (r) => r.redisTop.map(([c, v]) => `${c} ${n1(v)}`).join(", ")),
    row("PostgreSQL statements (PgBouncer total_query_count)", (r) => n1(r.pgStatements)),
    row("PostgreSQL transactions (PgBouncer total_xact_count)", (r) => n1(r.pgTransactions)),
    row(
      "PostgreSQL commits (pg_stat_database, the bench's polls taken out)",
      (r) => `${n1(r.pgCommits)} (+${n2(r.pgRollbacks)} rollbacks)`,
    ),
    row("worker CPU ms (all its threads)", (r) => n2(r.workerCpuMs)),
    row("Redis CPU ms", (r) => n2(r.redisCpuMs)),
    row("PgBouncer CPU ms", (r) => n2(r.bouncerCpuMs)),
    row("PostgreSQL CPU ms (the database's backends + background processes)", (r) => n2(r.pgCpuMs)),
    "",
    "| per worker process, peak over ~1 s samples | latency 0 | paced |",
    "| --- | ---: | ---: |",
    row("Redis client connections", (r) => `${r.redisClients}`),
    row("PgBouncer client connections (the worker's pool)", (r) => `${r.bouncerClients}`),
    row(
      "PgBouncer server connections, open / busy",
      (r) => `${r.bouncerServers} / ${r.bouncerServersActive}`,
    ),
    row("direct PostgreSQL sessions (LISTEN, and its heartbeat NOTIFY)", (r) => `${r.pgDirect}`),
    "",
    "| ceiling on this machine | measured |",
    "| --- | ---: |",
    `| Redis ops/s: redis-benchmark ${REDIS_BENCHMARK_ARGS.join(" ")}, median of ${Object.entries(redis.tests)
      .map(([t, v]) => `${t} ${n0(v)}`)
      .join(", ")} | ${n0(redis.opsPerSec)} |`,
    `| PostgreSQL commits/s: pgbench ${PGBENCH_ARGS.join(" ")}, scale 1 | ${n0(pg.pgTps)} |`,
    `| PgBouncer transactions/s: the same with -M simple through PgBouncer (which used ${pct(pg.bouncerCoreShare)} of a core) | ${n0(pg.bouncerTps)} |`,
    `| PgBouncer queries/s then (${n1(pg.bouncerQueriesPerXact)} per pgbench transaction) | ${n0(pg.bouncerQps)} |`,
    "",
    `Per quota, with the paced window's figures. Analyses/s = RPM / ${CALLS} / 60. Workers by CPU = analyses/s × ${n2(p.workerCpuMs)} ms / 1000 (one core per worker process); ` +
      `by concurrency = analyses/s ÷ ${n1(byConcurrency)} (${plan.planConcurrency} analyses in flight ÷ (${WAVES} waves × ${plan.latencyS} s per Gemini call)). Workers needed: the larger.`,
    "",
    "| RPM | analyses/s | workers by CPU | workers by concurrency | Redis cmd/s | share of one Redis: commands / CPU | PG commits/s | PG statements/s | share of one PostgreSQL | share of one PgBouncer: queries / CPU at pgbench's cost |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const rpm of plan.rpms) {
    const a = rpm / CALLS / 60;
    const cmds = a * p.redisCommands;
    const stmts = a * p.pgStatements;
    lines.push(
      `| ${n0(rpm)} | ${n1(a)} | ${n2(a / byCpu)} → ${Math.ceil(a / byCpu)} | ${n2(a / byConcurrency)} → ${Math.ceil(a / byConcurrency)} | ` +
        `${n0(cmds)} | ${pct(cmds / redis.opsPerSec)} / ${pct(a / redisByCpu)} | ${n0(a * p.pgCommits)} | ${n0(stmts)} | ` +
        `${pct((a * p.pgCommits) / pg.pgTps)} | ${pct(stmts / pg.bouncerQps)} / ${pct(a / bouncerByCpu)} |`,
    );
  }
  const serves = (ceiling: number, perAnalysis: number) => n0(ceiling / (perWorker * perAnalysis));
  lines.push(
    "",
    `A worker of the plan does ${n1(perWorker)} analyses/s (the lower of ${n1(byCpu)} by one core and ${n1(byConcurrency)} by concurrency). ` +
      `One Redis serves ${serves(redis.opsPerSec, p.redisCommands)} such workers by commands, ${n0(redisByCpu / perWorker)} by its CPU; ` +
      `one PostgreSQL ${serves(pg.pgTps, p.pgCommits)} by commits; one PgBouncer ${serves(pg.bouncerQps, p.pgStatements)} by queries, ${n0(bouncerByCpu / perWorker)} by its CPU. ` +
      `Each worker holds ${p.redisClients} Redis connections, ${p.bouncerClients} PgBouncer clients (its pool) and ${p.pgDirect} direct PostgreSQL sessions; PgBouncer opened up to ${p.bouncerServers} server connections for it (default_pool_size 20 caps them), at most ${p.bouncerServersActive} busy at a sample.`,
    "",
    "What limits each figure:",
    `- Quota: ${CALLS} LLM calls per analysis (measured ${n1(p.llmCalls)}), the whole quota spent on analyses. Latency is the emulator's; real Gemini's spread differs. The paced window's ${n1(p.analysesPerSec)} analyses/s is below ${n1(byConcurrency)} because it includes the first wave starting together and the last one draining.`,
    `- Pace: the ledger group-commits its writes, so statements and commits per analysis grow as a worker's writes thin out (latency 0: ${n1(w.fast.pgStatements)} statements; paced: ${n1(p.pgStatements)}). The plan uses the paced window: at high RPM every worker runs at that pace. Below it (the 1,000 RPM row: one worker a quarter busy) a worker commits somewhat more per analysis, on a load that is small anyway.`,
    `- Worker CPU: measured with the worker, Redis, PostgreSQL, PgBouncer (and at latency 0 the emulator) on the same ${os.availableParallelism()} cores. One core per worker process: Node runs its JavaScript on one thread.`,
    `- Redis is single-threaded, one core. redis-benchmark's SET/GET/INCR/LPUSH/ZADD are each cheaper than a BullMQ or rate-limiter script call (one EVALSHA counts once, plus every command in its body), and the commands share overstates the load. The CPU share (the paced window's ${n2(p.redisCpuMs)} ms per analysis against 1,000 ms a second) overstates it too: one worker's light load, where Redis' timers (serverCron, key expiry) and the bench's 1 Hz sampling weigh per analysis. Busier, at latency 0, Redis spent ${n2(w.fast.redisCpuMs)} ms for ${n1(w.fast.redisCommands)} commands: at that cost the paced commands take ${n2(redisLoadedMs)} ms, and the last row ${pct((((plan.rpms.at(-1) ?? 0) / CALLS / 60) * redisLoadedMs) / 1000)} of Redis. The rate limiter's sorted set holds one entry per call of the last minute: at 100,000 RPM, 100,000 entries, and its trims cost O(log n).`,
    "- PostgreSQL: pgbench -N (UPDATE, SELECT, INSERT per commit) is not the ledger's mix (multi-row INSERTs of call rows, the finalize's rollups); on this box its commits/s is bound by WAL flushes and by 16 pgbench clients sharing the cores with the server.",
    `- PgBouncer is single-threaded too; through it pgbench drove ${pct(pg.bouncerCoreShare)} of a core, so ${pg.bouncerCoreShare < 0.9 ? "PostgreSQL behind it set that ceiling, not PgBouncer: the queries share is an upper bound" : "PgBouncer itself was the limit"}. The CPU share takes pgbench's CPU per query (${n0(bouncerFullCore)} queries/s at a full core); the paced window's ${n2(p.bouncerCpuMs)} ms per analysis is far above it, light load plus the bench's two admin-console logins a second.`,
    `- Counting: statements are PgBouncer's (one per Query or Sync message); commits are PostgreSQL's and include the direct LISTEN session's heartbeat, so they run a little above PgBouncer's transactions. Redis commands leave out the bench's own (INFO, CLIENT, its resume and ZCARDs); total_commands_processed agrees within ${n0(Math.max(Math.abs(w.fast.redisCheck), Math.abs(p.redisCheck)))} over a window.`,
  );
  return lines.join("\n");
}
