// The poll loop: answers the first defined result, gives up at the deadline, grows its pause.
import { describe, expect, it } from "vitest";
import { pollUntil } from "../../../functions/domain/poll.ts";

describe("pollUntil", () => {
  it("returns the first answer that is not undefined, false included", async () => {
    let n = 0;
    expect(await pollUntil(async () => (++n < 3 ? undefined : n), { timeoutMs: 1000, intervalMs: 1 })).toBe(
      3,
    );
    expect(await pollUntil(async () => false, { timeoutMs: 1000, intervalMs: 1 })).toBe(false);
  });

  it("checks at least once, and gives up with undefined at the deadline without sleeping past it", async () => {
    let n = 0;
    const t0 = Date.now();
    expect(await pollUntil(async () => void n++, { timeoutMs: 120, intervalMs: 50 })).toBeUndefined();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(115);
    expect(took).toBeLessThan(400);
    expect(n).toBeGreaterThanOrEqual(3);
    n = 0;
    await pollUntil(async () => void n++, { timeoutMs: 0, intervalMs: 50 });
    expect(n).toBe(1);
  });

  it("grows the pause by the backoff factor up to its cap", async () => {
    const at: number[] = [];
    await pollUntil(async () => void at.push(Date.now()), {
      timeoutMs: 400,
      intervalMs: 20,
      backoff: 2,
      maxIntervalMs: 80,
    });
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 20, 40, 80, 80, ...: fewer checks than a constant 20 ms pause would make.
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(Math.max(...gaps.slice(0, -1))).toBeLessThan(80 + 40);
    expect(at.length).toBeLessThan(12);
  });
});
