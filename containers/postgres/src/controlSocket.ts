// The running program's control socket: the operator's dump commands (`devcluster db ...`) are
// served by the long-running program instead of a new Node process per command, which would load
// the whole program again (0.25-0.8 s) before its first byte. One JSON line in, one JSON line out.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname } from "node:path";

/** Where the program listens: in the container only, reachable by root (docker exec) alone. */
export const CONTROL_SOCKET = "/run/devcluster/control.sock";

/** The longest request line: a tool's arguments are a few names and a key. */
const MAX_REQUEST = 16 * 1024;

export interface ControlReply {
  /** The tool's exit code: 0, 3 when refused, 1 when it failed. */
  code: number;
  /** The tool's one JSON line. */
  line: string;
}

/** A request: the tool's arguments, as `main.mjs` would take them. */
export function parseControlRequest(text: string): string[] {
  let req: unknown;
  try {
    req = JSON.parse(text);
  } catch {
    throw new Error("not a JSON line");
  }
  const argv = (req as { argv?: unknown } | null)?.argv;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === "string") || argv.length > 16)
    throw new Error('a request is {"argv": [up to 16 strings]}');
  return argv as string[];
}

/**
 * Listen on `path` and answer each request with `tool(argv)`. A stale socket left by an earlier
 * run of the container is replaced; the directory is root's alone.
 */
export async function serveControl(
  path: string,
  tool: (argv: string[]) => Promise<ControlReply>,
): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  rmSync(path, { force: true });
  const server = createServer((conn) => {
    let buf = "";
    const answer = (r: ControlReply) => conn.end(JSON.stringify(r) + "\n");
    conn.on("error", () => {}); // the client went away: the work it asked for still finishes
    conn.setEncoding("utf8");
    const onData = (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) {
        if (buf.length > MAX_REQUEST) {
          conn.off("data", onData);
          answer(refusal("a request line is at most 16 KiB"));
        }
        return;
      }
      // One request per connection: anything after its line is not read.
      conn.off("data", onData);
      let argv: string[];
      try {
        argv = parseControlRequest(buf.slice(0, nl));
      } catch (e) {
        return answer(refusal((e as Error).message));
      }
      void tool(argv).then(answer, (e: unknown) =>
        answer({ code: 1, line: JSON.stringify({ error: (e as Error).message, refused: false }) }),
      );
    };
    conn.on("data", onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return server;
}

const refusal = (error: string): ControlReply => ({
  code: 3,
  line: JSON.stringify({ error: `control request: ${error}`, refused: true }),
});
