// Structured JSON logs: one line per decision, with the request id and cold-start flag.
import { appendFileSync } from "node:fs";
import type { LogFields, Logger } from "../ports/log.ts";

export type { LogFields, Logger } from "../ports/log.ts";

let coldStart = true;

/** Keys whose values are never written to a log, whatever their depth. */
const SECRET_KEY = /secret|password|token|private_?key|ssl_key|credential/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) {
    // Stack and cause stay: a logged failure must say where it came from and what it wrapped.
    const e = value as Error & { source?: unknown; issues?: unknown };
    return {
      name: e.name,
      message: e.message,
      ...(e.source !== undefined ? { source: e.source } : {}),
      ...(e.issues !== undefined ? { issues: e.issues } : {}),
      ...(e.stack ? { stack: e.stack } : {}),
      ...(e.cause !== undefined ? { cause: redact(e.cause, depth + 1) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // LifecycleActionToken is an opaque id, not a secret; keep it so actions can be traced.
    out[k] = SECRET_KEY.test(k) && k !== "LifecycleActionToken" ? "[redacted]" : redact(v, depth + 1);
  }
  return out;
}

export type LogSink = (line: string) => void;

/** Lambda collects stdout; the local cluster sends its handlers' lines to DEVCLUSTER_LOG_FILE. */
export const defaultSink: LogSink = (l) => {
  const file = process.env.DEVCLUSTER_LOG_FILE;
  if (file) appendFileSync(file, l + "\n");
  else process.stdout.write(l + "\n");
};

let processSink: LogSink = defaultSink;

/**
 * Where this process's loggers write unless given a sink: the local function host adds shipping to
 * CloudWatch Logs, which Lambda does from stdout on AWS.
 */
export function setProcessLogSink(sink: LogSink): void {
  processSink = sink;
}

export function createLogger(base: LogFields = {}, sink: LogSink = (l) => processSink(l)): Logger {
  const write = (level: string, msg: string, fields?: LogFields) => {
    if (process.env.DEVCLUSTER_LOG === "silent") return;
    sink(
      JSON.stringify({
        level,
        time: new Date().toISOString(),
        msg,
        ...(redact({ ...base, ...fields }) as LogFields),
      }),
    );
  };
  return {
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (f) => createLogger({ ...base, ...f }, sink),
  };
}

/** A logger for one Lambda invocation; the first invocation of a container is the cold start. */
export function invocationLogger(fn: string, requestId: string | undefined): Logger {
  const log = createLogger({ fn, requestId, coldStart });
  coldStart = false;
  return log;
}
