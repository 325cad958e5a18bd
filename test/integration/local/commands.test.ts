// The local command runner and its systemctl stand-in: the same script a real node runs starts a real
// etcd member on the node's loopback address.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { createLocalCommands } from "../../../local/commands.ts";
import { killLocalNode, nodeDir, prepareLocalNode } from "../../../local/node.ts";
import { etcdEnv, renderEnvFile } from "../../../functions/domain/etcdEnv.ts";
import { httpOk } from "../../../local/processes.ts";
import { useRig } from "../../rig/index.ts";

const rig = useRig();

/** The start script, as the control plane renders it: paths under $ROOT, data dir expanded on the node. */
function startEtcdScript(name: string, ip: string) {
  const env = etcdEnv({
    name,
    ip,
    dataDir: "__DATA__",
    initialCluster: [{ name, ip }],
    state: "new",
    token: "t1",
  });
  const file = renderEnvFile(env).replace("__DATA__", "$ROOT/var/lib/etcd");
  return `mkdir -p "$ROOT/etc/etcd"\ncat > "$ROOT/etc/etcd/etcd.env" <<EOT\n${file}EOT\nsystemctl daemon-reload\nsystemctl enable --now etcd-member.service\nsystemctl is-active etcd-member.service`;
}

describe("local command runner", () => {
  it("runs a node script that starts a real etcd member, and stops it", async () => {
    const root = join(rig.dir, "c1");
    prepareLocalNode(root, "i-main1", "main");
    const cmds = createLocalCommands({ root });
    const ip = rig.block.address(21);
    const [res] = await cmds.run({
      instanceIds: ["i-main1"],
      script: startEtcdScript("i-main1", ip),
      comment: "start",
    });
    expect(res).toMatchObject({ instanceId: "i-main1", status: "Success", exitCode: 0 });
    expect(res!.stdout.trim()).toBe("active");
    const env = readFileSync(join(nodeDir(root, "i-main1"), "etc/etcd/etcd.env"), "utf8");
    expect(env).toContain(`ETCD_DATA_DIR="${nodeDir(root, "i-main1")}/var/lib/etcd"`);
    await expect
      .poll(() => httpOk(`http://${ip}:2379/health`).catch(() => false), { timeout: 10_000 })
      .toBe(true);
    expect(
      existsSync(
        join(nodeDir(root, "i-main1"), "etc/systemd/system/multi-user.target.wants/etcd-member.service"),
      ),
    ).toBe(true);

    const [stop] = await cmds.run({
      instanceIds: ["i-main1"],
      script: "systemctl stop etcd-member.service; systemctl is-active etcd-member.service || true",
      comment: "stop",
    });
    expect(stop!.stdout.trim()).toBe("inactive");
    await expect(httpOk(`http://${ip}:2379/health`, 300)).rejects.toThrow();
  });

  it("reports failures, time-outs and nodes that are gone, per node", async () => {
    const root = join(rig.dir, "c2");
    prepareLocalNode(root, "i-a", "worker");
    prepareLocalNode(root, "i-b", "worker");
    const cmds = createLocalCommands({ root });
    const res = await cmds.run({
      instanceIds: ["i-a", "i-b", "i-none"],
      script: "echo hi; exit 7",
      comment: "x",
    });
    expect(res.map((r) => [r.instanceId, r.status, r.exitCode])).toEqual([
      ["i-a", "Failed", 7],
      ["i-b", "Failed", 7],
      ["i-none", "Undeliverable", -1],
    ]);
    const [slow] = await cmds.run({
      instanceIds: ["i-a"],
      script: "sleep 5",
      comment: "slow",
      timeoutSeconds: 0.3,
    });
    expect(slow!.status).toBe("TimedOut");
    await killLocalNode(root, "i-b");
    const [dead] = await cmds.run({ instanceIds: ["i-b"], script: "true", comment: "x" });
    expect(dead!.status).toBe("Undeliverable");
  });

  it("runs scripts in its agent process, not this one, keeps SSM's output bound, and outlives a lost agent", async () => {
    const root = join(rig.dir, "c-agent");
    prepareLocalNode(root, "i-ag", "worker");
    const cmds = createLocalCommands({ root });
    const [who] = await cmds.run({ instanceIds: ["i-ag"], script: "echo $PPID", comment: "x" });
    const agentPid = Number(who!.stdout.trim());
    expect(agentPid).toBeGreaterThan(0);
    expect(agentPid).not.toBe(process.pid);
    // 30,000 characters and a last line: the last 24,000 are kept, as SSM keeps them.
    const [big] = await cmds.run({
      instanceIds: ["i-ag"],
      script: "head -c 30000 /dev/zero | tr '\\0' x; echo END",
      comment: "x",
    });
    expect(big!.stdout.length).toBe(24_000);
    expect(big!.stdout.endsWith("xEND\n")).toBe(true);
    // The agent dies while a command runs: that command fails with the reason, the next one runs.
    const running = cmds.run({ instanceIds: ["i-ag"], script: "sleep 5", comment: "x" });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(agentPid, "SIGKILL");
    const [lost] = await running;
    expect(lost).toMatchObject({ status: "Failed", exitCode: -1 });
    expect(lost!.stderr).toMatch(/the command agent ended/);
    const [after] = await cmds.run({ instanceIds: ["i-ag"], script: "echo $PPID", comment: "x" });
    expect(after!.status).toBe("Success");
    expect(Number(after!.stdout.trim())).not.toBe(agentPid);
  });

  it("manages template instances and container units by state alone", async () => {
    const root = join(rig.dir, "c3");
    const dir = prepareLocalNode(root, "i-w", "worker");
    writeFileSync(
      join(dir, "etc/systemd/system/presence@.service"),
      "[Service]\nExecStart=/usr/bin/docker run x\n",
    );
    const cmds = createLocalCommands({ root });
    const [r] = await cmds.run({
      instanceIds: ["i-w"],
      script:
        "systemctl enable --now presence@1.service && systemctl is-active presence@1.service && systemctl start nope.service",
      comment: "x",
    });
    expect(r!.stdout.trim()).toBe("active");
    expect(r!.status).toBe("Failed");
    expect(r!.stderr).toContain("Unit nope.service not found");
  });

  it("restarts a failing container unit as systemd does: after RestartSec=, until the start limit", async () => {
    const root = join(rig.dir, "c4");
    const dir = prepareLocalNode(root, "i-r", "worker");
    mkdirSync(join(dir, "etc/devcluster"), { recursive: true });
    writeFileSync(join(dir, "etc/devcluster/node.env"), `PRIVATE_IP=${rig.block.address(40)}\n`);
    const image = "missing.devcluster.invalid/none:not-built";
    // Gives up at the third start within a minute (StartLimitBurst=, StartLimitIntervalSec=).
    writeFileSync(
      join(dir, "etc/systemd/system/limited.service"),
      `[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=2\n\n[Service]\nExecStart=/usr/bin/docker run --rm ${image}\nRestart=always\nRestartSec=1s\n`,
    );
    // systemd's defaults (5 starts in 10 s) never stop a unit that waits 3 s between starts.
    writeFileSync(
      join(dir, "etc/systemd/system/patient.service"),
      `[Service]\nExecStart=/usr/bin/docker run --rm ${image}\nRestart=always\nRestartSec=3s\n`,
    );
    const cmds = createLocalCommands({ root, containers: true });
    const [r] = await cmds.run({
      instanceIds: ["i-r"],
      script: "systemctl start limited.service patient.service",
      comment: "x",
    });
    expect(r!.status).toBe("Success");
    const starts = (u: string) => {
      const log = join(dir, "var/log", `${u}.log`);
      return existsSync(log) ? (readFileSync(log, "utf8").match(/Unable to find image/g) ?? []).length : 0;
    };
    const state = (u: string) => readFileSync(join(dir, "run/systemd", `${u}.state`), "utf8").trim();
    const t0 = Date.now();
    while (state("limited.service") !== "failed" && Date.now() - t0 < 30_000)
      await new Promise((res) => setTimeout(res, 200));
    expect(state("limited.service")).toBe("failed");
    expect(starts("limited.service")).toBe(2);
    expect(readFileSync(join(dir, "run/systemd/limited.service.error"), "utf8")).toMatch(
      /Unable to find image[^]*start limit hit: 2 starts within 60s/,
    );
    await new Promise((res) => setTimeout(res, Math.max(0, 8000 - (Date.now() - t0))));
    expect(state("patient.service")).toBe("active");
    // Started at 0 s, 3 s and 6 s (fewer when the machine is slow), never in a tight loop.
    expect(starts("patient.service")).toBeGreaterThanOrEqual(2);
    expect(starts("patient.service")).toBeLessThanOrEqual(3);
    const [s] = await cmds.run({
      instanceIds: ["i-r"],
      script: "systemctl stop patient.service",
      comment: "x",
    });
    expect(s!.status).toBe("Success");
    expect(state("patient.service")).toBe("inactive");
  }, 60_000);

  it("runs one supervisor for a unit that concurrent commands start and restart (systemd serialises its jobs)", async () => {
    const root = join(rig.dir, "c6");
    const dir = prepareLocalNode(root, "i-c", "worker");
    const unitFile = join(dir, "etc/systemd/system/busy.service");
    // Its container never starts (no such image): the supervisor then waits out RestartSec=, alive.
    writeFileSync(
      unitFile,
      `[Service]\nExecStartPre=-/usr/bin/docker rm -f %p\nExecStart=/usr/bin/docker run --rm --name %p missing.devcluster.invalid/none:not-built\nRestart=always\nRestartSec=60s\n`,
    );
    const cmds = createLocalCommands({ root, containers: true });
    /** Supervisors of the unit: each leads its own session (its subshells share its command line). */
    const supervisors = async () => {
      const { stdout } = await promisify(execFile)("ps", ["-eo", "pid=,sid=,args="]);
      return stdout
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter(
          ([pid, sid, ...args]) =>
            pid === sid && args.join(" ").includes(`supervise 'busy.service' '${unitFile}'`),
        ).length;
    };
    try {
      // What a units push and an etcd-amb refresh (try-restart) do to one node at the same moment.
      const results = await Promise.all(
        ["start", "restart", "start", "try-restart", "restart", "start", "restart", "try-restart"].map((c) =>
          cmds.run({ instanceIds: ["i-c"], script: `systemctl ${c} busy.service`, comment: c }),
        ),
      );
      expect(results.flat().map((r) => r.status)).toEqual(Array(8).fill("Success"));
      expect(await supervisors()).toBe(1);
    } finally {
      await cmds.run({ instanceIds: ["i-c"], script: "systemctl stop busy.service", comment: "stop" });
    }
    expect(await supervisors()).toBe(0);
  }, 60_000);

  it("keeps a unit inside its node: no program or environment file outside it, nothing sourced, no option as a name", async () => {
    const root = join(rig.dir, "c5");
    const dir = prepareLocalNode(root, "i-h", "main");
    const marker = join(rig.dir, "c5-escaped");
    const units = join(dir, "etc/systemd/system");
    // ExecStart climbing out of /opt/bin.
    writeFileSync(
      join(units, "climb.service"),
      `[Service]\nExecStart=/opt/bin/../../../../../../bin/touch ${marker}\n`,
    );
    // An environment file whose value is a command substitution: read as text, never run.
    mkdirSync(join(dir, "etc/devcluster"), { recursive: true });
    writeFileSync(join(dir, "etc/devcluster/evil.env"), `A="$(touch ${marker})"\nB=plain\n`);
    writeFileSync(
      join(units, "envy.service"),
      "[Service]\nEnvironmentFile=/etc/devcluster/evil.env\nExecStart=/opt/bin/etcdctl version\n",
    );
    // An environment file named outside the node.
    writeFileSync(
      join(units, "outside.service"),
      "[Service]\nEnvironmentFile=/../../../../../../etc/hostname\nExecStart=/opt/bin/etcdctl version\n",
    );
    const cmds = createLocalCommands({ root });
    const go = async (script: string) => (await cmds.run({ instanceIds: ["i-h"], script, comment: "x" }))[0]!;
    const climb = await go("systemctl start climb.service");
    expect(climb.status).toBe("Failed");
    expect(climb.stderr).toContain("ExecStart /opt/bin/../../../../../../bin/touch");
    expect(climb.stderr).toContain("is not a program in /opt/bin");
    expect((await go("systemctl start envy.service")).status).toBe("Success");
    const outside = await go("systemctl start outside.service");
    expect(outside.status).toBe("Failed");
    expect(outside.stderr).toContain("EnvironmentFile /../../../../../../etc/hostname is outside the node");
    // A name that looks like an option is a name after `--`, and no unit has it.
    const dash = await go("systemctl start -- --now");
    expect(dash.status).toBe("Failed");
    expect(dash.stderr).toContain("Unit --now not found");
    await new Promise((res) => setTimeout(res, 300));
    expect(existsSync(marker)).toBe(false);
  });
});
