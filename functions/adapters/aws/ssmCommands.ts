// Commands port over SSM Run Command (document AWS-RunShellScript): batches of at most 50
// instance ids per SendCommand, per-node results polled with backoff, failed nodes retried.
import { InvariantError } from "../../domain/errors.ts";
import {
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type CommandInvocation,
  type GetCommandInvocationCommandOutput,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type { CommandRequest, CommandResult, CommandStatus, Commands } from "../../ports/index.ts";

/** SSM accepts at most 50 InstanceIds per SendCommand. */
export const SSM_MAX_TARGETS = 50;
export const SSM_DOCUMENT = "AWS-RunShellScript";

export interface SsmCommandsOptions {
  ssm: Pick<SSMClient, "send">;
  batchSize?: number;
  /** Retries for nodes whose run Failed, TimedOut or was Undeliverable (default 1). */
  retries?: number;
  /** First poll delay; doubles (x1.6) up to `maxPollMs`. */
  pollMs?: number;
  maxPollMs?: number;
  /** Give up waiting after this long past the command's own timeout (default 60 s). */
  graceMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const TERMINAL = new Set(["Success", "Failed", "TimedOut", "Cancelled", "Cancelling"]);
const HEREDOC = "DEVCLUSTER_SCRIPT_EOF";

/**
 * AWS-RunShellScript runs its commands with `sh`; wrap the bash script in a temporary file so
 * it runs under bash whatever /bin/sh is, with its own stdin untouched.
 */
export function wrapForRunShellScript(script: string): string {
  if (script.split("\n").includes(HEREDOC)) throw new InvariantError(`script contains the line ${HEREDOC}`);
  return [
    `f="$(mktemp /tmp/devcluster.XXXXXX)" || exit 1`,
    `cat >"$f" <<'${HEREDOC}'`,
    script.endsWith("\n") ? script.slice(0, -1) : script,
    HEREDOC,
    `bash "$f"; rc=$?; rm -f "$f"; exit $rc`,
  ].join("\n");
}

function mapStatus(status: string | undefined, details: string | undefined): CommandStatus {
  if (details && /Undeliverable|InvalidPlatform|Terminated|AccessDenied|DeliveryTimedOut/.test(details))
    return "Undeliverable";
  if (status === "Success") return "Success";
  if (status === "TimedOut" || details === "ExecutionTimedOut") return "TimedOut";
  return "Failed";
}

const UNSUPPORTED = new Set([
  "NotImplemented",
  "NotImplementedException",
  "UnknownOperationException",
  "InvalidAction",
]);

/** The endpoint does not know the operation (moto answers an HTML 404 page to ListCommandInvocations). */
function unsupported(e: unknown): boolean {
  const status =
    (e as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } })?.$response
      ?.statusCode ?? (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  // moto answers some operations with an HTML page: the SDK cannot deserialize it and throws a
  // SyntaxError that carries the raw response.
  const notTheApi = e instanceof SyntaxError && (e as { $response?: unknown }).$response !== undefined;
  return status === 404 || status === 501 || UNSUPPORTED.has(errName(e)) || notTheApi;
}

const errName = (e: unknown) =>
  e && typeof e === "object" && "name" in e ? String((e as { name: unknown }).name) : "";

export function createSsmCommands(
  opts: SsmCommandsOptions,
): Commands & { stats: { sendCommand: number; polls: number } } {
  const batchSize = Math.min(opts.batchSize ?? SSM_MAX_TARGETS, SSM_MAX_TARGETS);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const stats = { sendCommand: 0, polls: 0 };
  let listSupported = true;

  interface Sent {
    sent: { commandId: string; ids: string[] }[];
    refused: CommandResult[];
  }

  /** Send one batch; an unregistered instance makes SSM refuse the whole call, so split and retry. */
  async function send(req: CommandRequest, ids: string[]): Promise<Sent> {
    try {
      stats.sendCommand++;
      const out = await opts.ssm.send(
        new SendCommandCommand({
          DocumentName: SSM_DOCUMENT,
          InstanceIds: ids,
          Comment: req.comment.slice(0, 100),
          TimeoutSeconds: 600, // delivery timeout
          Parameters: {
            commands: [wrapForRunShellScript(req.script)],
            executionTimeout: [String(req.timeoutSeconds ?? 600)],
          },
        }),
      );
      return { sent: [{ commandId: out.Command?.CommandId ?? "", ids }], refused: [] };
    } catch (e) {
      if (errName(e) !== "InvalidInstanceId") throw e;
      if (ids.length === 1) {
        return {
          sent: [],
          refused: [
            {
              instanceId: ids[0]!,
              status: "Undeliverable",
              exitCode: -1,
              stdout: "",
              stderr: `SSM: ${(e as Error).message}`,
            },
          ],
        };
      }
      const half = Math.ceil(ids.length / 2);
      const a = await send(req, ids.slice(0, half));
      const b = await send(req, ids.slice(half));
      return { sent: [...a.sent, ...b.sent], refused: [...a.refused, ...b.refused] };
    }
  }

  function toResult(
    id: string,
    inv: {
      Status?: string;
      StatusDetails?: string;
      ResponseCode?: number;
      StandardOutputContent?: string;
      StandardErrorContent?: string;
    },
  ): CommandResult {
    return {
      instanceId: id,
      status: mapStatus(inv.Status, inv.StatusDetails),
      exitCode: inv.ResponseCode ?? -1,
      stdout: inv.StandardOutputContent ?? "",
      stderr: inv.StandardErrorContent ?? "",
    };
  }

  /** Wait for every node of one command to reach a final state. */
  async function wait(commandId: string, ids: string[], timeoutSeconds: number): Promise<CommandResult[]> {
    const done = new Map<string, CommandResult>();
    const deadline = now() + timeoutSeconds * 1000 + (opts.graceMs ?? 60_000);
    let delay = opts.pollMs ?? 1000;
    for (;;) {
      await sleep(delay);
      delay = Math.min(delay * 1.6, opts.maxPollMs ?? 10_000);
      const pending = ids.filter((id) => !done.has(id));
      if (listSupported) {
        try {
          let token: string | undefined;
          do {
            stats.polls++;
            const page = await opts.ssm.send(
              new ListCommandInvocationsCommand({
                CommandId: commandId,
                Details: true,
                ...(token ? { NextToken: token } : {}),
              }),
            );
            for (const inv of page.CommandInvocations ?? []) collectListed(inv, done);
            token = page.NextToken;
          } while (token);
        } catch (e) {
          // moto (and old endpoints) lack ListCommandInvocations: poll node by node instead.
          if (!unsupported(e)) throw e;
          listSupported = false;
        }
      }
      if (!listSupported) {
        for (const id of pending) {
          try {
            stats.polls++;
            const inv: GetCommandInvocationCommandOutput = await opts.ssm.send(
              new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: id }),
            );
            if (
              TERMINAL.has(inv.Status ?? "") ||
              inv.StatusDetails === "Undeliverable" ||
              inv.StatusDetails === "Terminated"
            )
              done.set(id, toResult(id, inv));
          } catch (e) {
            if (errName(e) !== "InvocationDoesNotExist") throw e; // not registered yet: keep waiting
          }
        }
      }
      if (ids.every((id) => done.has(id))) break;
      if (now() > deadline) {
        for (const id of ids)
          if (!done.has(id))
            done.set(id, {
              instanceId: id,
              status: "TimedOut",
              exitCode: -1,
              stdout: "",
              stderr: "no final status from SSM in time",
            });
        break;
      }
    }
    return ids.map((id) => done.get(id)!);
  }

  function collectListed(inv: CommandInvocation, done: Map<string, CommandResult>) {
    const id = inv.InstanceId;
    if (!id || done.has(id)) return;
    if (
      !TERMINAL.has(inv.Status ?? "") &&
      !/Undeliverable|Terminated|DeliveryTimedOut/.test(inv.StatusDetails ?? "")
    )
      return;
    const plugin = inv.CommandPlugins?.[0];
    done.set(
      id,
      toResult(id, {
        Status: inv.Status,
        StatusDetails: inv.StatusDetails,
        ResponseCode: plugin?.ResponseCode,
        StandardOutputContent: plugin?.Output,
        StandardErrorContent: "",
      }),
    );
  }

  async function runOnce(req: CommandRequest, ids: string[]): Promise<CommandResult[]> {
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += batchSize) batches.push(ids.slice(i, i + batchSize));
    const results: CommandResult[] = [];
    await Promise.all(
      batches.map(async (batch) => {
        const { sent, refused } = await send(req, batch);
        results.push(...refused);
        const waits = await Promise.all(sent.map((c) => wait(c.commandId, c.ids, req.timeoutSeconds ?? 600)));
        results.push(...waits.flat());
      }),
    );
    return results;
  }

  return {
    stats,
    async run(req) {
      const ids = [...new Set(req.instanceIds)];
      const final = new Map<string, CommandResult>();
      let todo = ids;
      for (let attempt = 0; todo.length; attempt++) {
        for (const r of await runOnce(req, todo)) final.set(r.instanceId, r);
        if (attempt >= (opts.retries ?? 1)) break;
        todo = todo.filter((id) => final.get(id)?.status !== "Success");
        if (todo.length) await sleep(opts.pollMs ?? 1000);
      }
      return ids.map(
        (id) =>
          final.get(id) ?? {
            instanceId: id,
            status: "Undeliverable" as const,
            exitCode: -1,
            stdout: "",
            stderr: "no result",
          },
      );
    },
  };
}
