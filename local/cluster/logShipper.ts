// What Lambda does with a function's output, for the local function host: each handler line goes to
// the function's log group in CloudWatch Logs (moto), in a stream of its own per container, so the
// operator's tools read the local cluster's events exactly as a deployed stack's.
import { randomBytes } from "node:crypto";
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";

/** PutLogEvents takes at most 10,000 events and 1 MiB (each event counts 26 bytes more). */
const MAX_BATCH_EVENTS = 10_000;
const MAX_BATCH_BYTES = 1_048_576;

export class LogShipper {
  private pending: { timestamp: number; message: string }[] = [];
  private readonly stream: string;
  private created = false;

  constructor(
    private readonly logs: CloudWatchLogsClient,
    private readonly group: string,
    now = new Date(),
  ) {
    // Lambda's own stream names: the day and the container's id.
    const day = now.toISOString().slice(0, 10).replaceAll("-", "/");
    this.stream = `${day}/[$LATEST]${randomBytes(16).toString("hex")}`;
  }

  get streamName(): string {
    return this.stream;
  }

  add(line: string): void {
    this.pending.push({ timestamp: Date.now(), message: line });
  }

  /**
   * Sends what was logged since the last flush. The host awaits it before answering an invocation, so
   * a process that invokes and exits (the command line) still leaves its events, as Lambda does.
   */
  async flush(): Promise<void> {
    const lines = this.pending;
    if (!lines.length) return;
    this.pending = [];
    if (!this.created) {
      try {
        await this.logs.send(
          new CreateLogStreamCommand({ logGroupName: this.group, logStreamName: this.stream }),
        );
      } catch (e) {
        if ((e as Error).name !== "ResourceAlreadyExistsException") throw e;
      }
      this.created = true;
    }
    let batch: typeof lines = [];
    let bytes = 0;
    const send = async () => {
      if (!batch.length) return;
      await this.logs.send(
        new PutLogEventsCommand({ logGroupName: this.group, logStreamName: this.stream, logEvents: batch }),
      );
      batch = [];
      bytes = 0;
    };
    for (const l of lines) {
      const size = Buffer.byteLength(l.message) + 26;
      if (batch.length >= MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES) await send();
      batch.push(l);
      bytes += size;
    }
    await send();
  }
}
