// The local command agent: runs each node command (bash on a node directory) for the local Commands
// port, as the SSM agent does on an instance, so the control plane's process never forks per
// command. A fork copies the forking process's page tables: measured here at about 6 ms per 100 MB
// of the forking process's memory, with its event loop stopped meanwhile (ARCHITECTURE.md decision
// 81); this process stays small. One JSON request per line on stdin
// ({id, script, cwd, env, timeoutMs}), one JSON answer per line on stdout
// ({id, code, timedOut, stdout, stderr}). stdin closing (its parent gone) kills what still runs.
/* global process, setTimeout, clearTimeout */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** SSM keeps at most this much of a command's output; keep the same bound. */
const OUTPUT_LIMIT = 24_000;
const running = new Set();
const answer = (a) => process.stdout.write(`${JSON.stringify(a)}\n`);

createInterface({ input: process.stdin })
  .on("line", (line) => {
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      process.stderr.write(`command agent: not a request: ${line.slice(0, 200)}\n`);
      return;
    }
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let done = false;
    const finish = (code, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      running.delete(child);
      answer({ id: req.id, code, timedOut, stdout, stderr: error ? `${stderr}${error}` : stderr });
    };
    const child = spawn("bash", ["-euo", "pipefail", "-c", req.script], {
      cwd: req.cwd,
      env: req.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(child);
    child.stdout.on("data", (c) => (stdout = (stdout + c.toString()).slice(-OUTPUT_LIMIT)));
    child.stderr.on("data", (c) => (stderr = (stderr + c.toString()).slice(-OUTPUT_LIMIT)));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, req.timeoutMs);
    child.on("error", (e) => finish(null, `command agent: ${e.message}`));
    child.on("close", (code) => finish(code));
  })
  .on("close", () => {
    for (const c of running) c.kill("SIGKILL");
    process.exit(0);
  });
