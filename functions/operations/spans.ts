// Timed steps of a long operation (restore): each step is logged as it begins ("step n/total") and
// reported with how long it took, so a slow phase shows in the result, the log and the benchmarks.
import type { ReportCode, ReportStep } from "../domain/reportCodes.ts";
import { ALL_CODES } from "../domain/reportCodes.ts";
import type { LogFields, Logger } from "../ports/log.ts";

export type TimedStep<C extends ReportCode> = ReportStep<C> & { ms: number };

export interface Spans<C extends ReportCode> {
  /** Ends the running step (if any) and begins the next. */
  begin(code: C, fields?: LogFields): void;
  /** Ends the running step; returns every step so far. */
  end(): TimedStep<C>[];
}

export function spans<C extends ReportCode>(
  log: Logger,
  opts: { label: string; total: number; clock?: () => number },
): Spans<C> {
  const clock = opts.clock ?? Date.now;
  const done: TimedStep<C>[] = [];
  let running: { step: TimedStep<C>; t0: number } | undefined;
  const end = () => {
    if (running) running.step.ms = clock() - running.t0;
    running = undefined;
    return done;
  };
  return {
    begin(code, fields = {}) {
      end();
      const step: TimedStep<C> = { code, ms: 0 };
      done.push(step);
      running = { step, t0: clock() };
      log.info(`${opts.label}: step ${done.length}/${opts.total}: ${ALL_CODES[code]}`, {
        step: done.length,
        of: opts.total,
        code,
        ...fields,
      });
    },
    end,
  };
}
