// The control plane's recent events, read from CloudWatch Logs: each function's log group
// (/aws/lambda/<function>) holds its handler's JSON lines, on AWS (Lambda ships them) and on the local
// cluster (its function host ships them to moto the same way), so both targets read events here.
import { CloudWatchLogsClient, FilterLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import type { ControlPlaneEvent } from "./target.ts";

/** How far back the dashboard looks: an hour holds several reconcile and snapshot runs. */
export const EVENTS_WINDOW_MS = 3600_000;
/** Pages read per log group at most (each up to 10,000 events or 1 MB): a bound on a busy hour. */
const MAX_PAGES = 5;

/** One handler log line (JSON) as an event; undefined for Lambda's own lines (START, END, REPORT). */
export function parseEvent(line: string): ControlPlaneEvent | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const { time, level, msg, fn, ...fields } = JSON.parse(line) as Record<string, unknown>;
    return {
      time: String(time ?? ""),
      level: String(level ?? ""),
      fn: String(fn ?? ""),
      msg: String(msg ?? ""),
      fields,
    };
  } catch {
    return undefined; // a line cut while it was written
  }
}

/** The function's log group, as Lambda names it. */
export const logGroupOf = (functionName: string) => `/aws/lambda/${functionName}`;

/**
 * The newest `limit` handler lines of the last `windowMs` across the given log groups, oldest first.
 * A group that does not exist yet (a function never invoked) has no events; other errors are thrown.
 */
export async function readCloudWatchEvents(
  logs: CloudWatchLogsClient,
  groups: readonly string[],
  limit: number,
  windowMs = EVENTS_WINDOW_MS,
): Promise<ControlPlaneEvent[]> {
  const startTime = Date.now() - windowMs;
  const perGroup = await Promise.all(
    groups.map(async (logGroupName) => {
      const out: { at: number; event: ControlPlaneEvent }[] = [];
      let nextToken: string | undefined;
      try {
        for (let page = 0; page < MAX_PAGES; page++) {
          const res = await logs.send(new FilterLogEventsCommand({ logGroupName, startTime, nextToken }));
          for (const e of res.events ?? []) {
            const event = parseEvent((e.message ?? "").trim());
            if (event) out.push({ at: e.timestamp ?? 0, event });
          }
          nextToken = res.nextToken;
          if (!nextToken) break;
        }
      } catch (e) {
        if ((e as Error).name !== "ResourceNotFoundException") throw e;
      }
      return out;
    }),
  );
  return perGroup
    .flat()
    .sort((a, b) => a.at - b.at || a.event.time.localeCompare(b.event.time))
    .slice(-limit)
    .map((x) => x.event);
}
