import { describe, expect, it } from "vitest";
import { ProgressThrottle } from "../../src/queue/progress-throttle.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("ProgressThrottle", () => {
  it("merges each interval's changes into one update with the latest state", async () => {
    const sent: number[] = [];
    const throttle = new ProgressThrottle<number>(async (p) => sent.push(p), 50);
    for (let i = 1; i <= 12; i++) throttle.update(i);
    expect(sent).toEqual([]);
    await sleep(80);
    expect(sent).toEqual([12]);
    throttle.update(13);
    expect(sent).toEqual([12]); // within the interval of the last send
    await sleep(80);
    expect(sent).toEqual([12, 13]);
    throttle.stop();
  });

  it("sends nothing for a job that ends within the first interval", async () => {
    const sent: number[] = [];
    const throttle = new ProgressThrottle<number>(async (p) => sent.push(p), 50);
    throttle.update(1);
    throttle.update(2);
    throttle.stop();
    await sleep(80);
    expect(sent).toEqual([]);
  });

  it("drops the trailing update once stopped, and survives a failing send", async () => {
    const sent: number[] = [];
    const throttle = new ProgressThrottle<number>(async (p) => {
      sent.push(p);
      throw new Error("redis blip");
    }, 30);
    throttle.update(1);
    await sleep(50);
    throttle.update(2);
    throttle.stop();
    throttle.update(3);
    await sleep(60);
    expect(sent).toEqual([1]);
  });
});
