// What the SSH-key helper costs per login: sshd running `devcluster-sshkeys authorized-keys USER`
// (curl fetches the list, openssl checks its signature, bash checks subject and expiry) against the
// baseline of a plain authorized_keys file, measured alternately in the same run: reading the file
// in process (what sshd does) and spawning `cat` on it (the cheapest AuthorizedKeysCommand). The
// list is served on loopback by an HTTP server that signs a fresh list per request with the domain
// code, so the list request latency printed includes the service side's signing.
//   npx tsx bench/sshkeys.ts [--logins 200]
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { signKeyList } from "../functions/domain/sshKeyList.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { median, out } from "./lib.ts";

const { values } = parseArgs({ options: { logins: { type: "string" } } });
const run = promisify(execFile);
const LOGINS = Number(values.logins ?? 200);
const HELPER = resolve("containers/sshkeys/client/devcluster-sshkeys");

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.99) - 1]!;
const ms = (ns: bigint) => Number(ns) / 1e6;

const dir = mkdtempSync(join(tmpdir(), "bench-sshkeys-"));
const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const priv = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
writeFileSync(join(dir, "service.pem"), publicKey.export({ type: "spki", format: "pem" }).toString());
const keys = [1, 2, 3].map((i) => {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `k${i}`, "-f", join(dir, `k${i}`)]);
  return readFileSync(join(dir, `k${i}.pub`), "utf8").trim();
});
writeFileSync(join(dir, "authorized_keys"), keys.join("\n") + "\n");

const host = reserveLoopbackBlock().address(2);
const server = createServer((_req, res) => {
  const now = Math.floor(Date.now() / 1000);
  res.end(
    signKeyList(
      {
        subject: "alice",
        issuedAt: now,
        expiresAt: now + 300,
        accounts: [{ user: "alice", groups: ["developers"], keys }],
      },
      priv,
    ),
  );
});
await new Promise<void>((ok) => server.listen(0, host, ok));
const url = `http://${host}:${(server.address() as { port: number }).port}`;
writeFileSync(join(dir, "sshkeys.conf"), `url=${url}/\npublic_key=${join(dir, "service.pem")}\n`);
const env = { PATH: process.env.PATH, DEVCLUSTER_SSHKEYS_CONF: join(dir, "sshkeys.conf") };

const helper: number[] = [];
const cat: number[] = [];
const read: number[] = [];
const request: number[] = [];
try {
  for (let i = 0; i < LOGINS; i++) {
    let t = process.hrtime.bigint();
    // Asynchronous, so that the list server in this process answers while the helper waits.
    const h = await run(HELPER, ["authorized-keys", "alice"], { env });
    helper.push(ms(process.hrtime.bigint() - t));
    if (h.stdout !== keys.join("\n") + "\n") throw new Error(`helper printed: ${h.stdout} ${h.stderr}`);
    t = process.hrtime.bigint();
    await run("cat", [join(dir, "authorized_keys")]);
    cat.push(ms(process.hrtime.bigint() - t));
    t = process.hrtime.bigint();
    readFileSync(join(dir, "authorized_keys"), "utf8");
    read.push(ms(process.hrtime.bigint() - t));
    t = process.hrtime.bigint();
    const r = await fetch(`${url}/v1/keys/alice`);
    await r.text();
    request.push(ms(process.hrtime.bigint() - t));
  }
} finally {
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
const row = (name: string, xs: number[]) =>
  out(
    `| ${name} | ${median(xs).toFixed(2)} | ${p99(xs).toFixed(2)} | ${(median(helper) / median(xs)).toFixed(1)}x |`,
  );
out(`SSH-key helper per login, ${LOGINS} logins, alternating, loopback (ms)`);
out("| what | median | p99 | helper / this (median) |");
out("|---|---|---|---|");
row("helper: fetch + verify + print (devcluster-sshkeys authorized-keys)", helper);
row("baseline: spawn cat authorized_keys", cat);
row("baseline: read authorized_keys in process (sshd's own read)", read);
row("signed key list request alone (HTTP GET, signing included)", request);
