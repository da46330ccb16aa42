import { randomBytes } from "node:crypto";
import type { BatchEnding, BatchOutcome, BatchState, GenerateContentBody } from "./protocol.js";

/**
 * Gemini Batch Mode's batches as the emulator holds them. A batch's state is worked out when it
 * is read, from its age: no timers, so nothing outlives close() and tests decide when time passes.
 * The wire form lives in batch-wire.ts.
 */

export const DEFAULT_BATCH_DELAY_MS = 100;
/** Gemini expires a batch still pending or running after 48 hours. */
export const DEFAULT_BATCH_EXPIRY_MS = 48 * 60 * 60 * 1000;

/** One request of a batch: inline (with the caller's metadata) or a JSONL line (with its key). */
export interface BatchRequest {
  request: GenerateContentBody;
  metadata?: Record<string, unknown>;
  key?: string;
}

/** google.rpc.Status, as an inline response's or a failed batch's error (gRPC code, not HTTP). */
export interface RpcStatus {
  code: number;
  message: string;
}

/** One answer, in request order: inline ones carry the request's metadata. */
export type InlinedResponse = { metadata?: Record<string, unknown> } & (
  | { response: unknown }
  | { error: RpcStatus }
);

export interface BatchRecord {
  /** "batches/<id>" */
  readonly name: string;
  /** As on the wire: "models/gemini-2.5-flash". */
  readonly model: string;
  readonly displayName: string;
  readonly requests: readonly BatchRequest[];
  /** "files/<id>" the requests were read from; null for inline requests. */
  readonly inputFile: string | null;
  /** Where the emulator was reached at creation, for the uri of a responses file. */
  readonly apiRoot: string;
  /** Taken at creation, so changing the outcome later leaves batches already made alone. */
  readonly outcome: BatchOutcome;
  readonly createdAt: number;
  state: BatchState;
  updatedAt: number;
  endedAt: number | null;
  responses: InlinedResponse[] | null;
  /** "files/<id>" holding the JSONL answers of a file batch. */
  responsesFile: string | null;
  /** The Operation's error, on FAILED batches. */
  error: RpcStatus | null;
}

export type NewBatch = Pick<BatchRecord, "model" | "displayName" | "requests" | "inputFile" | "apiRoot">;

/** What running a batch produced: its answers, and the file they were written to for file input. */
export interface BatchOutput {
  responses: InlinedResponse[];
  responsesFile: string | null;
}

/** Answers a batch's requests, in order; the server supplies it (same code as generateContent). */
export type BatchRunner = (batch: BatchRecord) => BatchOutput;

export interface BatchTiming {
  delayMs: number;
  expiryMs: number;
  outcome?: BatchOutcome;
  now?: () => number;
}

/** Why endBatch refused: the batch is unknown, or already done (its state stays as it was). */
export class BatchEndError extends Error {
  override name = "BatchEndError";
  constructor(
    readonly reason: "not_found" | "done",
    message: string,
  ) {
    super(message);
  }
}

const DONE: ReadonlySet<BatchState> = new Set<BatchState>([
  "BATCH_STATE_SUCCEEDED",
  "BATCH_STATE_FAILED",
  "BATCH_STATE_CANCELLED",
  "BATCH_STATE_EXPIRED",
]);

export const isDone = (state: BatchState): boolean => DONE.has(state);

/** Accepts "batches/x" or a bare id, as the REST paths and SDKs pass either. */
export const batchNameOf = (idOrName: string): string =>
  idOrName.startsWith("batches/") ? idOrName : `batches/${idOrName}`;

const INTERNAL = 13;
const OUTCOME_FAILURE: RpcStatus = {
  code: INTERNAL,
  message: 'Batch failed (emulator batchOutcome "failed").',
};

const OUTCOME_STATES: Record<BatchOutcome, BatchState> = {
  succeeded: "BATCH_STATE_SUCCEEDED",
  failed: "BATCH_STATE_FAILED",
  expired: "BATCH_STATE_EXPIRED",
  cancelled: "BATCH_STATE_CANCELLED",
};

export class BatchStore {
  readonly #batches = new Map<string, BatchRecord>();
  /** batchGenerateContent requests per display name, kept apart from batches so refused ones count. */
  readonly #creates = new Map<string, number>();
  readonly #now: () => number;
  #outcome: BatchOutcome;

  constructor(
    private readonly timing: BatchTiming,
    private readonly run: BatchRunner,
  ) {
    this.#now = timing.now ?? Date.now;
    this.#outcome = timing.outcome ?? "succeeded";
  }

  set outcome(outcome: BatchOutcome) {
    this.#outcome = outcome;
  }

  get outcome(): BatchOutcome {
    return this.#outcome;
  }

  /** Called for every create request as it arrives, before faults or validation. */
  noteCreateRequest(displayName: string): void {
    this.#creates.set(displayName, (this.#creates.get(displayName) ?? 0) + 1);
  }

  createCountOf(displayName: string): number {
    return this.#creates.get(displayName) ?? 0;
  }

  create(batch: NewBatch): BatchRecord {
    const now = this.#now();
    const record: BatchRecord = {
      ...batch,
      name: `batches/${randomBytes(9).toString("base64url").toLowerCase().replace(/[-_]/g, "0")}`,
      outcome: this.#outcome,
      createdAt: now,
      state: "BATCH_STATE_PENDING",
      updatedAt: now,
      endedAt: null,
      responses: null,
      responsesFile: null,
      error: null,
    };
    this.#batches.set(record.name, record);
    return record;
  }

  find(name: string): BatchRecord | undefined {
    const record = this.#batches.get(batchNameOf(name));
    return record ? this.#settle(record) : undefined;
  }

  /** Oldest first, each brought up to date. */
  list(): BatchRecord[] {
    return [...this.#batches.values()].map((record) => this.#settle(record));
  }

  /** A batch not done yet ends CANCELLED with no responses; a done one is left as it is. */
  cancel(name: string): BatchRecord | undefined {
    const record = this.find(name);
    if (record && !isDone(record.state)) this.#end(record, "BATCH_STATE_CANCELLED");
    return record;
  }

  /**
   * Ends a batch as a test says, with no responses. The batch is brought up to date first: one
   * whose time has passed is done already, and stays as every client saw or will see it.
   */
  end(name: string, ending: BatchEnding): BatchRecord {
    const record = this.find(name);
    if (!record) throw new BatchEndError("not_found", `Batch ${batchNameOf(name)} not found.`);
    if (isDone(record.state)) {
      throw new BatchEndError("done", `Batch ${record.name} is already done: ${record.state}.`);
    }
    if (ending.state === "FAILED") {
      record.error = { code: ending.code ?? INTERNAL, message: ending.message ?? "Batch failed." };
    }
    this.#end(record, `BATCH_STATE_${ending.state}`);
    return record;
  }

  delete(name: string): boolean {
    return this.#batches.delete(batchNameOf(name));
  }

  /** Moves a batch along by its age: expiry wins over completion, so a short expiry always shows. */
  #settle(record: BatchRecord): BatchRecord {
    if (isDone(record.state)) return record;
    const age = this.#now() - record.createdAt;
    if (age >= this.timing.expiryMs) {
      this.#end(record, "BATCH_STATE_EXPIRED");
    } else if (age >= this.timing.delayMs) {
      this.#complete(record);
    } else if (age >= this.timing.delayMs / 2 && record.state === "BATCH_STATE_PENDING") {
      record.state = "BATCH_STATE_RUNNING";
      record.updatedAt = this.#now();
    }
    return record;
  }

  #complete(record: BatchRecord): void {
    if (record.outcome === "succeeded") {
      // Run when first seen done: fault rules in force then apply, as they would to a live call.
      const output = this.run(record);
      record.responses = output.responses;
      record.responsesFile = output.responsesFile;
    } else if (record.outcome === "failed") {
      record.error = { ...OUTCOME_FAILURE };
    }
    this.#end(record, OUTCOME_STATES[record.outcome]);
  }

  #end(record: BatchRecord, state: BatchState): void {
    record.state = state;
    record.updatedAt = this.#now();
    record.endedAt = record.updatedAt;
  }
}
