// Running programs as a database server's Unix user: its ids, and a run that collects output and
// keeps passwords out of errors.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/** uid and gid of a user, from /etc/passwd (Node has no getpwnam). */
export function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name} in /etc/passwd`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Run a program as the server's user; resolves with its output, rejects with its error text. */
export function run(
  cmd: string,
  args: string[],
  ids: { uid: number; gid: number },
  input?: string,
  redact: string[] = [],
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      ...ids,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { PATH: process.env.PATH, LANG: "C.UTF-8" },
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      // Errors may quote the statement: a password never leaves in them.
      const text = redact.reduce((t, s) => t.replaceAll(s, "***"), out.trim());
      if (code === 0) resolve(text);
      else reject(new Error(`${cmd.split("/").pop()} exited ${code}: ${text.slice(-2000)}`));
    });
    if (input !== undefined) {
      // A program that exits before reading all of it reports its own error; the broken pipe is not one.
      child.stdin!.on("error", () => {});
      child.stdin!.end(input);
    }
  });
}
