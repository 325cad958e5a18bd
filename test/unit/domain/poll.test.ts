// The poll loop: answers the first defined result, gives up at the deadline, grows its pause.
import { afterEach, describe, expect, it, vi } from "vitest";
import { pollUntil } from "../../../functions/domain/poll.ts";

describe("pollUntil", () => {
  it("returns the first answer that is not undefined, false included", async () => {
    let n = 0;
    expect(await pollUntil(async () => (++n < 3 ? undefined : n), { timeoutMs: 1000, intervalMs: 1 })).toBe(
      3,
    );
    expect(await pollUntil(async () => false, { timeoutMs: 1000, intervalMs: 1 })).toBe(false);
  });

  // The clock is vitest's fake one: the pauses are exact, whatever the machine's load.
  afterEach(() => vi.useRealTimers());

  it("checks at least once, and gives up with undefined at the deadline without sleeping past it", async () => {
    vi.useFakeTimers({ now: 0 });
    const at: number[] = [];
    const p = pollUntil(async () => void at.push(Date.now()), { timeoutMs: 120, intervalMs: 50 });
    await vi.runAllTimersAsync();
    expect(await p).toBeUndefined();
    // 0, 50, 100, then the last pause is cut to the deadline.
    expect(at).toEqual([0, 50, 100, 120]);
    at.length = 0;
    const once = pollUntil(async () => void at.push(Date.now()), { timeoutMs: 0, intervalMs: 50 });
    await vi.runAllTimersAsync();
    await once;
    expect(at).toHaveLength(1);
  });

  it("grows the pause by the backoff factor up to its cap", async () => {
    vi.useFakeTimers({ now: 0 });
    const at: number[] = [];
    const p = pollUntil(async () => void at.push(Date.now()), {
      timeoutMs: 400,
      intervalMs: 20,
      backoff: 2,
      maxIntervalMs: 80,
    });
    await vi.runAllTimersAsync();
    await p;
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps).toEqual([20, 40, 80, 80, 80, 80, 20]);
  });
});
