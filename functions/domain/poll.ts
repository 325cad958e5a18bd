// Waiting with a deadline: the one sleep and the one poll loop that operations and adapters use
// (here, not in runtime/, because both layers need it and neither may import runtime; it does no I/O).

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface PollOptions {
  /** Give up once this long has passed (the check always runs at least once). */
  timeoutMs: number;
  /** Pause between checks; never past the deadline. */
  intervalMs: number;
  /** Multiply the pause by this after each check (1, the default: constant). */
  backoff?: number;
  maxIntervalMs?: number;
  /** Add up to one more pause at random, so that racing callers spread out. */
  jitter?: boolean;
}

/**
 * Runs `check` until it answers something other than undefined, and returns that; undefined when
 * the deadline passed first. A check that answers false ends the wait with false.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  o: PollOptions,
): Promise<T | undefined> {
  const until = Date.now() + o.timeoutMs;
  let pause = o.intervalMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    const left = until - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(pause + (o.jitter ? Math.random() * pause : 0), left));
    pause = Math.min(pause * (o.backoff ?? 1), o.maxIntervalMs ?? Number.POSITIVE_INFINITY);
  }
}
