// `node control.mjs <tool arguments>`: the operator's dump commands, answered by the running program
// over its control socket (no second load of the program). While the program has no socket yet
// (still starting), the same command runs in a process of its own, `node main.mjs`, as before.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { CONTROL_SOCKET, type ControlReply } from "./controlSocket.ts";

const argv = process.argv.slice(2);

function viaProgram(): Promise<ControlReply | undefined> {
  return new Promise((resolve, reject) => {
    const conn = connect(CONTROL_SOCKET);
    let text = "";
    conn.setEncoding("utf8");
    conn.on("connect", () => conn.write(JSON.stringify({ argv }) + "\n"));
    conn.on("data", (d: string) => (text += d));
    conn.on("error", (e: NodeJS.ErrnoException) => {
      // No program listening: the command is not lost, it runs on its own below.
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") resolve(undefined);
      else reject(e);
    });
    conn.on("end", () => {
      try {
        resolve(JSON.parse(text) as ControlReply);
      } catch {
        reject(new Error(`the program's control socket answered no reply (${text.length} characters)`));
      }
    });
  });
}

function onItsOwn(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL("main.mjs", import.meta.url).pathname, ...argv], {
      stdio: "inherit",
    });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}

try {
  const reply = await viaProgram();
  if (reply) {
    process.stdout.write(reply.line + "\n");
    process.exitCode = reply.code;
  } else process.exitCode = await onItsOwn();
} catch (e) {
  process.stdout.write(JSON.stringify({ error: (e as Error).message, refused: false }) + "\n");
  process.exitCode = 1;
}
