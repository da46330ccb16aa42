import { describe, expect, it } from "vitest";
import { StatementBatcher } from "../../src/store/statement-batcher.js";

/** A write that records every batch it is given and answers each item with its doubled value. */
function recordingWrite(fail?: (items: number[]) => Error | null) {
  const batches: number[][] = [];
  const write = async (items: number[]) => {
    batches.push([...items]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const error = fail?.(items);
    if (error) throw error;
    return items.map((n) => n * 2);
  };
  return { batches, write };
}

const transient = () => Object.assign(new Error("connection reset"), { code: "ECONNRESET" });
const constraint = () => Object.assign(new Error("violates check constraint"), { code: "23514" });

describe("StatementBatcher", () => {
  it("writes what is submitted together in one batch and gives each caller its own result", async () => {
    const { batches, write } = recordingWrite();
    const batcher = new StatementBatcher(write, { maxBatch: 100 });
    const results = await Promise.all([1, 2, 3, 4].map((n) => batcher.submit(n)));
    expect(results).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it("collects what arrives while a batch is in flight into the next one, at most maxBatch each", async () => {
    const { batches, write } = recordingWrite();
    const batcher = new StatementBatcher(write, { maxBatch: 3 });
    const first = batcher.submit(1);
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is now in flight
    const rest = [2, 3, 4, 5, 6, 7].map((n) => batcher.submit(n));
    expect(await Promise.all([first, ...rest])).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(batches).toEqual([[1], [2, 3, 4], [5, 6, 7]]);
  });

  it("defers a second item for a key to the next batch, or lets it replace the first", async () => {
    const deferred = recordingWrite();
    const defer = new StatementBatcher(deferred.write, { maxBatch: 10, keyOf: (n) => String(n % 10) });
    expect(await Promise.all([1, 11, 2].map((n) => defer.submit(n)))).toEqual([2, 22, 4]);
    expect(deferred.batches).toEqual([[1, 2], [11]]);

    const replaced = recordingWrite();
    const replace = new StatementBatcher(replaced.write, {
      maxBatch: 10,
      keyOf: (n) => String(n % 10),
      onDuplicateKey: "replace",
    });
    // Both waiters get the later item's result: it superseded the earlier one.
    expect(await Promise.all([1, 11, 2].map((n) => replace.submit(n)))).toEqual([22, 22, 4]);
    expect(replaced.batches).toEqual([[11, 2]]);
  });

  it("retries a batch refused for its data item by item, so only the bad item fails", async () => {
    const { batches, write } = recordingWrite((items) => (items.includes(3) ? constraint() : null));
    const batcher = new StatementBatcher(write, { maxBatch: 10 });
    const settled = await Promise.allSettled([1, 2, 3, 4].map((n) => batcher.submit(n)));
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect(batches).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
  });

  it("fails the whole batch at once on a connection fault, without writing each item again", async () => {
    const { batches, write } = recordingWrite(() => transient());
    const batcher = new StatementBatcher(write, { maxBatch: 10 });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    expect(settled.every((s) => s.status === "rejected")).toBe(true);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it("drain waits for everything submitted so far", async () => {
    const { batches, write } = recordingWrite();
    const batcher = new StatementBatcher(write, { maxBatch: 2 });
    for (const n of [1, 2, 3, 4, 5]) void batcher.submit(n);
    await batcher.drain();
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5]);
  });

  it("tells how long each item waited from submit to its statement's end, replaced and failed ones included", async () => {
    const { write } = recordingWrite((items) => (items.includes(13) ? constraint() : null));
    const waits: number[] = [];
    const batcher = new StatementBatcher(write, {
      maxBatch: 10,
      keyOf: (n) => String(n % 10),
      onDuplicateKey: "replace",
      observeWait: (seconds) => waits.push(seconds),
    });
    const first = batcher.submit(1);
    await new Promise((resolve) => setImmediate(resolve)); // 1 is in flight: the rest wait for it
    const settled = await Promise.allSettled([first, ...[2, 12, 13].map((n) => batcher.submit(n))]);
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected"]);
    // One observation per submit (2 was replaced by 12 and waited all the same), each at least
    // one 5 ms write long, the later ones two.
    // (A loaded machine can make the first one slower too; the later ones are never faster.)
    expect(waits).toHaveLength(4);
    expect(waits[0]).toBeGreaterThanOrEqual(0.004);
    for (const wait of waits.slice(1)) expect(wait).toBeGreaterThanOrEqual(0.009);
  });
});
