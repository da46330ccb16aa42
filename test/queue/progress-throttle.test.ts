import { describe, expect, it } from "vitest";
import { ProgressThrottle } from "../../src/queue/progress-throttle.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("ProgressThrottle", () => {
  it("sends the first change at once and merges a burst into one trailing update with the latest state", async () => {
    const sent: number[] = [];
    const throttle = new ProgressThrottle<number>(async (p) => sent.push(p), 50);
    for (let i = 1; i <= 12; i++) throttle.update(i);
    expect(sent).toEqual([1]);
    await sleep(80);
    expect(sent).toEqual([1, 12]);
    throttle.update(13);
    expect(sent).toEqual([1, 12]); // within the interval of the trailing send
    await sleep(80);
    expect(sent).toEqual([1, 12, 13]);
    throttle.stop();
  });

  it("drops the trailing update once stopped, and survives a failing send", async () => {
    const sent: number[] = [];
    const throttle = new ProgressThrottle<number>(async (p) => {
      sent.push(p);
      throw new Error("redis blip");
    }, 30);
    throttle.update(1);
    throttle.update(2);
    throttle.stop();
    throttle.update(3);
    await sleep(60);
    expect(sent).toEqual([1]);
  });
});
