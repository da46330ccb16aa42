import {
  createPostgresBackend,
  type IQueueBackend,
  type Processor,
  Queue,
  QueueEvents,
  type QueueEventsOptions,
  type QueueOptions,
  Worker,
  type WorkerOptions,
  withBackend,
} from "bullmq";

import type { Config } from "../config/config.js";
import { serviceAddress } from "../service-unreachable.js";
import type { AnalysisJobData } from "./job-payload.js";
import { closeRedis, createRedis, type RedisConnection } from "./redis.js";

export const QUEUE_NAME = "analyses";

/** BullMQ's tables live in their own schema of DATABASE_URL's database, beside the ledger's. */
export const POSTGRES_QUEUE_SCHEMA = "bullmq";

export type AnalysisResult = { status: string } | null;
// The classes are the same on both backends; only their backend and connection types differ.
export type AnalysisQueue = Queue<
  AnalysisJobData,
  unknown,
  string,
  AnalysisJobData,
  unknown,
  string,
  IQueueBackend,
  unknown
>;
export type AnalysisQueueEvents = QueueEvents<unknown, IQueueBackend, unknown>;
export type AnalysisWorker = Worker<AnalysisJobData, AnalysisResult, string, IQueueBackend>;

export interface WorkerSettings {
  concurrency: number;
  /** Lock on a running job; a killed worker's jobs return to the queue about this long after. */
  lockMs: number;
}

/**
 * Where the "analyses" queue lives: Redis (QUEUE_PREFIX namespaces its keys) or BullMQ's
 * PostgreSQL backend (QUEUE_PREFIX names the queue, so several deployments or test runs can
 * share one database). Everything above this file sees the same Queue, Worker and QueueEvents.
 * The backend owns the connections it opens; `close` ends them after the classes are closed.
 */
export interface QueueBackend {
  readonly kind: Config["queueBackend"];
  /** The service that holds the queue and its address, for one-line errors. */
  readonly service: "Redis" | "PostgreSQL";
  readonly address: string;
  /** Fails fast when `role` is "producer" (a CLI command or an API request); retries forever for "worker". */
  queue(role: "producer" | "worker"): AnalysisQueue;
  queueEvents(): AnalysisQueueEvents;
  worker(
    processor: Processor<AnalysisJobData, AnalysisResult, string>,
    settings: WorkerSettings,
  ): AnalysisWorker;
  close(): Promise<void>;
}

export function openQueueBackend(
  config: Pick<Config, "queueBackend" | "redisUrl" | "databaseUrl" | "queuePrefix"> &
    Partial<Pick<Config, "databasePooling" | "databaseListenUrl">>,
): QueueBackend {
  // BullMQ's PostgreSQL backend needs sessions (LISTEN, its migration lock): behind a
  // transaction pooler it uses the session connection (loadConfig insists there is one).
  const queueDatabaseUrl =
    config.databasePooling === "transaction" && config.databaseListenUrl
      ? config.databaseListenUrl
      : config.databaseUrl;
  return config.queueBackend === "postgres"
    ? postgresQueueBackend(queueDatabaseUrl, config.queuePrefix)
    : redisQueueBackend(config.redisUrl, config.queuePrefix);
}

function workerOptions(settings: WorkerSettings) {
  return {
    concurrency: settings.concurrency,
    // A killed worker's jobs come back after the lock expires; allow a few such crashes.
    maxStalledCount: 3,
    // The lock is renewed every lockMs / 2, so a loop blocked for up to lockMs / 2 loses
    // nothing; a dead worker's lock is found expired within lockMs + lockMs / 2.
    lockDuration: settings.lockMs,
    stalledInterval: Math.max(500, Math.round(settings.lockMs / 2)),
    autorun: true,
  };
}

function redisQueueBackend(redisUrl: string, prefix: string): QueueBackend {
  const connections: RedisConnection[] = [];
  const connect = (role: "producer" | "worker") => {
    const connection = createRedis(redisUrl, role);
    // Surfaced by the classes' own "error" events and by the commands that use them.
    connection.on("error", () => {});
    connections.push(connection);
    return connection;
  };
  return {
    kind: "redis",
    service: "Redis",
    address: serviceAddress(redisUrl, 6379),
    queue: (role) => new Queue(QUEUE_NAME, { connection: connect(role), prefix }) as AnalysisQueue,
    queueEvents: () =>
      new QueueEvents(QUEUE_NAME, { connection: connect("worker"), prefix }) as AnalysisQueueEvents,
    worker: (processor, settings) =>
      new Worker(QUEUE_NAME, processor, {
        connection: connect("worker"),
        prefix,
        ...workerOptions(settings),
      }) as unknown as AnalysisWorker,
    async close() {
      await Promise.all(connections.map(closeRedis));
    },
  };
}

/**
 * Each class owns a small `pg` pool (BullMQ closes it with the class) plus, for blocking reads,
 * one LISTEN connection: a worker at concurrency 8 holds 6 connections, at 128 seventeen (a
 * pool of 8 there cost ~5% of throughput, waiting for a connection); the producer queue 2,
 * QueueEvents 2. Their statements are short, so small pools keep up.
 */
function postgresQueueBackend(databaseUrl: string, prefix: string): QueueBackend {
  const Pg = withBackend(createPostgresBackend);
  // `migrate: true`: BullMQ creates or upgrades its schema under its own advisory lock.
  const connection = (max: number) => ({
    connectionString: databaseUrl,
    schema: POSTGRES_QUEUE_SCHEMA,
    migrate: true,
    max,
    // Without it a refused connection is retried by each caller; with it the first fails fast.
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
  });
  const name = `${prefix}.${QUEUE_NAME}`;
  return {
    kind: "postgres",
    service: "PostgreSQL",
    address: serviceAddress(databaseUrl, 5432),
    queue: () =>
      new Pg.Queue<AnalysisJobData>(name, { connection: connection(2) }) as unknown as AnalysisQueue,
    queueEvents: () =>
      new Pg.QueueEvents(name, {
        connection: connection(1),
      } as QueueEventsOptions<never>) as unknown as AnalysisQueueEvents,
    worker: (processor, settings) =>
      new Pg.Worker<AnalysisJobData, AnalysisResult>(name, processor, {
        connection: connection(Math.min(16, Math.ceil(settings.concurrency / 8) + 4)),
        ...workerOptions(settings),
      } as WorkerOptions<never>) as unknown as AnalysisWorker,
    async close() {},
  };
}

export type { QueueOptions };
