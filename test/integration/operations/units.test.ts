// Units end to end: the push script through the local runner on node directories, SSM against
// moto, systemd-analyze on the rendered units, the handler with the placement stored in real etcd.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListCommandsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { describe, expect, it } from "vitest";
import { useRig } from "../../rig/index.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { createSsmCommands, SSM_DOCUMENT } from "../../../functions/adapters/aws/ssmCommands.ts";
import { etcdPlacementStore } from "../../../functions/adapters/etcd/placementStore.ts";
import { etcdNodeAccessStore } from "../../../functions/adapters/etcd/etcdAccess.ts";
import { announcedByNode, nodeAccess, nodeRole } from "../../../functions/domain/etcdAccess.ts";
import { prepareLocalNode } from "../../../local/node.ts";
import { renderAppUnit } from "../../../functions/domain/units/appUnit.ts";
import { readCatalogDir } from "../../../functions/catalog/index.ts";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { IMAGE_NAMES, missingImageRef, renderCatalogImages } from "../../../functions/domain/images.ts";
import { publishImages, ssmPublishedImages } from "../../../functions/adapters/aws/ssmPublishedImages.ts";
import type { NodeRecord, Role } from "../../../functions/domain/model.ts";
import {
  EMPTY_PLACEMENT,
  getList,
  loadCatalog,
  planUnits,
  parsePushResults,
  type StoredPlacement,
} from "../../../functions/domain/units/index.ts";
import { runUnits, syncUnits, type UnitsDeps } from "../../../functions/operations/units.ts";
import type { CommandRequest, Commands } from "../../../functions/ports/index.ts";
import { createLogger } from "../../../functions/runtime/log.ts";
import { fakeVolumeAccess } from "../../fakes/volumes.ts";

const log = createLogger({ fn: "units" });

const rig = useRig({ moto: true, etcdMembers: 1 });

const rec = (
  instanceId: string,
  role: Role,
  zone: string,
  state: NodeRecord["state"] = "active",
): NodeRecord => ({
  instanceId,
  role,
  zone,
  group: `g-${role}`,
  privateIp: "127.0.0.1",
  state,
  updatedAt: "",
});

/** The units a node directory holds: files written, units enabled/active by the systemctl stand-in. */
function nodeUnits(dir: string) {
  const unitDir = join(dir, "etc/systemd/system");
  const files = readdirSync(unitDir)
    .filter((f) => f.endsWith(".service"))
    .sort();
  const wants = existsSync(join(unitDir, "multi-user.target.wants"))
    ? readdirSync(join(unitDir, "multi-user.target.wants")).sort()
    : [];
  const state = join(dir, "run/systemd");
  const active = readdirSync(state)
    .filter((f) => f.endsWith(".state") && readFileSync(join(state, f), "utf8").trim() === "active")
    .map((f) => f.slice(0, -".state".length))
    .sort();
  return { files, wants, active };
}

const memoryStore = (initial: StoredPlacement = { ...EMPTY_PLACEMENT }) => {
  let state = initial;
  let rev = 0;
  return {
    get state() {
      return state;
    },
    async load() {
      return { state, revision: String(rev) };
    },
    async save(s: StoredPlacement, r: string) {
      if (r !== String(rev)) return false;
      state = s;
      rev++;
      return true;
    },
  };
};

describe("push through the local runner", () => {
  it("leaves exactly the placed units on each node, idempotently, and follows a node leaving", async () => {
    const root = join(rig.dir, "local");
    const records = [
      rec("i-m1", "main", "a"),
      rec("i-w1", "worker", "a"),
      rec("i-w2", "worker", "b"),
      rec("i-w3", "worker", "c"),
      rec("i-d1", "data", "a"),
    ];
    for (const r of records) prepareLocalNode(root, r.instanceId, r.role);
    // The catalog's database keeps its data on a volume: EC2 is the fake, the nodes see its attachments.
    const vols = fakeVolumeAccess(records.map((r) => r.instanceId));
    const local = createLocalCommands({ root, attachments: vols.attachments });
    const store = memoryStore();
    const deps: UnitsDeps = {
      log,
      nodes: { listNodes: async () => records },
      placements: store,
      commands: local,
      catalog: () => readCatalogDir(),
      volumes: vols.access,
    };

    const first = await runUnits(deps, {});
    expect(first.unplaceable).toEqual([]);
    expect(first.failed).toEqual([]);
    expect(first.saved).toBe(true);
    // Workers and data nodes in one command; the main node in one of its own.
    expect(first.commands).toBe(2);
    const check = () => {
      for (const r of records.filter((x) => x.state === "active")) {
        const placed = Object.entries(store.state.placement)
          .filter(([, ns]) => ns.includes(r.instanceId))
          .map(([u]) => u)
          .sort();
        const got = nodeUnits(join(root, "nodes", r.instanceId));
        const files = [...new Set(placed.map((u) => u.replace(/@.*\.service$/, "@.service")))].sort();
        expect(got.files, r.instanceId).toEqual(files);
        const started = placed.filter((u) => u !== "etcd-member.service");
        expect(got.active, r.instanceId).toEqual(started);
        // (the systemctl stand-in records every enabled unit under multi-user.target.wants)
        expect(got.wants, r.instanceId).toEqual(started);
      }
    };
    check();
    // Each announced instance gets its sidecar settings beside its units; nothing else does.
    const sidecarEnv = (u: string) => {
      const node = store.state.placement[`${u}.service`]![0]!;
      const f = join(root, "nodes", node, "etc/devcluster/sidecars", `${u}.env`);
      return existsSync(f) ? readFileSync(f, "utf8") : undefined;
    };
    expect(sidecarEnv("hello@1")).toMatch(
      /^SERVICE=hello\nPORTS=http:8080\nHTTP_PORT_NAME=http\nHEALTH_CHECK=http:http\/healthz\nELECTION=false$/m,
    );
    expect(sidecarEnv("nginx@1")).toMatch(/^SERVICE=nginx\nPORTS=http:80\nHEALTH_CHECK=tcp:http\n/m);
    expect(sidecarEnv("nginx@1")).not.toMatch(/HTTP_PORT_NAME/);
    expect(sidecarEnv("presence-dns")).toBeUndefined();
    expect(store.state.placement["etcd-member.service"]).toEqual(["i-m1"]);
    expect(store.state.placement["etcd-amb.service"]).toEqual(["i-d1", "i-w1", "i-w2", "i-w3"]);

    // Nothing changed: nothing is pushed.
    const again = await runUnits(deps, {});
    expect(again.pushed).toEqual([]);
    expect(again.commands).toBe(0);
    // A forced push is idempotent: nothing is written or started again.
    const forced = await runUnits(deps, { force: true });
    expect(forced.results.every((r) => r.ok && r.written!.length === 0 && r.started!.length === 0)).toBe(
      true,
    );

    // The node running nginx@1 leaves: its units move, the rest stays, the leaving node gets nothing.
    const gone = store.state.placement["nginx@1.service"]![0]!;
    const before = { ...store.state.placement };
    const leaving = await syncUnits(deps, { terminating: gone });
    expect(leaving.pushed.map((p) => p.nodeId)).not.toContain(gone);
    expect(store.state.placement["nginx@1.service"]![0]).not.toBe(gone);
    expect(store.state.placement["nginx@2.service"]).toEqual(before["nginx@2.service"]);
    expect(store.state.placement["presence@nginx@1.service"]).toEqual(
      store.state.placement["nginx@1.service"],
    );
    records.find((r) => r.instanceId === gone)!.state = "gone";
    check();

    // A catalog change (nginx down to one instance) stops and removes what is no longer placed.
    const src = readCatalogDir();
    src["nginx@.service"] = src["nginx@.service"]!.replace("Instances=2", "Instances=1");
    const shrink = await runUnits(deps, { catalog: src });
    expect(shrink.failed).toEqual([]);
    expect(shrink.results.flatMap((r) => r.stopped ?? [])).toEqual(
      expect.arrayContaining(["nginx@2.service", "presence@nginx@2.service"]),
    );
    check();
    const nginx2Node = before["nginx@2.service"]![0]!;
    expect(existsSync(join(root, "nodes", nginx2Node, "etc/devcluster/sidecars/nginx@2.env"))).toBe(false);

    // A change to what presence announces is a change of the file: pushed, and the settings rewritten.
    src["hello@.service"] = src["hello@.service"]!.replace(
      "HealthCheck=http:http/healthz",
      "HealthCheck=tcp:http",
    );
    const recheck = await runUnits(deps, { catalog: src });
    expect(recheck.failed).toEqual([]);
    expect(recheck.pushed.map((p) => p.nodeId)).toContain(store.state.placement["hello@1.service"]![0]);
    expect(sidecarEnv("hello@1")).toMatch(/^HEALTH_CHECK=tcp:http$/m);

    // The API proxy reads its routes from its settings file: a route added restarts it (its unit
    // file is unchanged), and its sidecars, and nothing else on its node.
    src["apiproxy@.service"] +=
      "ApiRoute=paid https://api.example.test/v1 header:X-Api-Key groups=developers\n";
    const routed = await runUnits(deps, { catalog: src });
    expect(routed.failed).toEqual([]);
    const proxyNode = store.state.placement["apiproxy@1.service"]![0]!;
    expect(sidecarEnv("apiproxy@1")).toMatch(/^API_ROUTES=\S+$/m);
    const result = routed.results.find((r) => r.instanceId === proxyNode);
    expect(result?.restarted).toContain("apiproxy@1.service");
    expect(result?.restarted?.filter((u) => !u.includes("apiproxy@1")).sort()).toEqual([]);
    // Its sidecars (bound to it) run again with it: the announcement and the way to Redis.
    expect(nodeUnits(join(root, "nodes", proxyNode)).active).toEqual(
      expect.arrayContaining([
        "apiproxy@1.service",
        "presence@apiproxy@1.service",
        "ambassador@apiproxy@1.service",
      ]),
    );
  });

  it("invalid units push nothing", async () => {
    const calls: CommandRequest[] = [];
    const commands: Commands = { run: async (r) => (calls.push(r), []) };
    const store = memoryStore();
    const src = readCatalogDir();
    src["nginx@.service"] += "\n[X-Fleet]\nMachineOf=ghost.service\n";
    await expect(
      runUnits(
        {
          log,
          nodes: { listNodes: async () => [rec("i-w1", "worker", "a")] },
          placements: store,
          commands,
          catalog: () => src,
        },
        {},
      ),
    ).rejects.toThrow(InvalidInputError);
    await expect(
      runUnits(
        {
          log,
          nodes: { listNodes: async () => [] },
          placements: store,
          commands,
          catalog: () => ({ "x.service": "[Service]\nExecStart\n" }),
        },
        {},
      ),
    ).rejects.toThrow(/x\.service:2: missing '='/);
    expect(calls).toEqual([]);
    expect(store.state).toEqual(EMPTY_PLACEMENT);
  });
});

describe("push over SSM (moto)", () => {
  it("sends AWS-RunShellScript to the placed nodes in batches of 50 and reads per-node results", async () => {
    const ssm = new SSMClient({});
    const commands = createSsmCommands({ ssm, pollMs: 10, maxPollMs: 50 });
    const catalog = loadCatalog(readCatalogDir());
    const nodes = Array.from({ length: 60 }, (_, i) =>
      rec(`i-${(0x1000 + i).toString(16)}`, i < 3 ? "main" : "worker", ["a", "b", "c"][i % 3]!),
    );
    const plan = planUnits({ catalog, nodes, state: EMPTY_PLACEMENT });
    // The 57 workers in one request (the adapter sends it as 50 + 7); each main node in its own, after.
    const workers = nodes.filter((n) => n.role === "worker").map((n) => n.instanceId);
    expect(plan.requests.map((r) => r.instanceIds.length)).toEqual([57, 1, 1, 1]);
    expect(plan.requests.slice(1).map((r) => r.instanceIds[0])).toEqual(["i-1000", "i-1001", "i-1002"]);
    const results = await commands.run(plan.requests[0]!);
    expect(results.map((r) => r.instanceId).sort()).toEqual([...workers].sort());
    expect(results.every((r) => r.status === "Success")).toBe(true);
    expect(parsePushResults(results).every((r) => r.status === "Success")).toBe(true);
    expect(commands.stats.sendCommand).toBe(2);

    const listed = (await ssm.send(new ListCommandsCommand({}))).Commands ?? [];
    const ours = listed.filter((c) => c.Comment?.startsWith("devcluster units"));
    expect(ours).toHaveLength(2);
    expect(ours.map((c) => c.DocumentName)).toEqual([SSM_DOCUMENT, SSM_DOCUMENT]);
    expect(ours.map((c) => c.InstanceIds!.length).sort()).toEqual([50, 7]);
    expect(ours.flatMap((c) => c.InstanceIds!).sort()).toEqual([...workers].sort());
    const params = ours[0]!.Parameters!;
    expect(params.executionTimeout).toEqual(["300"]);
    expect(params.commands).toHaveLength(1);
    expect(params.commands![0]).toContain('bash "$f"');
    expect(params.commands![0]).toContain("systemctl daemon-reload");
    expect(params.commands![0]).toContain("'i-1003') units=(");
  });
});

describe("systemd-analyze verify", () => {
  it("accepts every rendered catalog unit (placed instances included), images rendered as a push does", () => {
    const digest = `@sha256:${"0".repeat(64)}`;
    const refs = Object.fromEntries(
      IMAGE_NAMES.map((i) => [
        i,
        `123456789012.dkr.ecr.eu-west-1.amazonaws.com/dev/${i}:0.1.0-abcdef012345${digest}`,
      ]),
    );
    const rendered = renderCatalogImages(readCatalogDir(undefined, "all"), refs);
    expect(rendered.missing).toEqual({});
    // And what `devcluster app new` writes, with every option it has.
    const app = renderAppUnit({
      name: "shop",
      image: `registry.example.com/team/shop:2.1${digest}`,
      port: 8380,
      volumes: [{ name: "data", sizeGiB: 5, containerPath: "/var/lib/shop" }],
      public: false,
      groups: ["developers"],
      instances: 2,
      healthPath: "/healthz",
    });
    const catalog = loadCatalog({ ...rendered.source, "shop@.service": app });
    expect(catalog.units.filter((u) => u.name.startsWith("shop@")).map((u) => u.name)).toEqual([
      "shop@1.service",
      "shop@2.service",
    ]);
    const root = join(rig.dir, "verify");
    const unitDir = join(root, "etc/systemd/system");
    mkdirSync(unitDir, { recursive: true });
    // The host's unit tree (targets, docker.service stand-in) and stubs for the binaries units run.
    cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true });
    writeFileSync(
      join(unitDir, "docker.service"),
      "[Unit]\nDescription=docker stand-in\n[Service]\nExecStart=/usr/bin/docker daemon\n",
    );
    for (const f of catalog.files.values()) {
      expect(f.rendered).not.toContain("{{");
      writeFileSync(join(unitDir, f.name), f.rendered);
      for (const s of ["ExecStart", "ExecStartPre", "ExecStop"])
        for (const e of getList(f.unit, "Service", s)) {
          const bin = e.value.replace(/^[-@:+!]+/, "").split(/\s+/)[0]!;
          mkdirSync(join(root, bin, ".."), { recursive: true });
          writeFileSync(join(root, bin), "#!/bin/sh\n");
          chmodSync(join(root, bin), 0o755);
        }
    }
    mkdirSync(join(root, "usr/bin"), { recursive: true });
    writeFileSync(join(root, "usr/bin/docker"), "#!/bin/sh\n");
    chmodSync(join(root, "usr/bin/docker"), 0o755);
    const names = catalog.units.map((u) => u.name);
    const res = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...names], {
      encoding: "utf8",
    });
    expect(res.stderr + res.stdout).toBe("");
    expect(res.status).toBe(0);

    // And it does fail on a broken unit (the check can fail).
    writeFileSync(join(unitDir, "broken.service"), "[Service]\nExecStart=/opt/bin/etcd\nRestart=sometimes\n");
    const bad = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, "broken.service"], {
      encoding: "utf8",
    });
    expect(bad.stderr).toMatch(/restart specifier|not executable/);
  });
});

describe("image references", () => {
  it("units run what the image push published in SSM; a new publish restarts only the units of the changed image", async () => {
    const ssm = new SSMClient({});
    const cluster = rig
      .unique("img")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .slice(0, 30)
      .replace(/^[^a-z]/, "c");
    const images = ssmPublishedImages(ssm, cluster);
    const root = join(rig.dir, "images");
    const records = [rec("i-m1", "main", "a"), rec("i-w1", "worker", "a")];
    for (const r of records) prepareLocalNode(root, r.instanceId, r.role);
    const vols = fakeVolumeAccess(records.map((r) => r.instanceId));
    const deps: UnitsDeps = {
      log,
      nodes: { listNodes: async () => records },
      placements: memoryStore(),
      commands: createLocalCommands({ root, attachments: vols.attachments }),
      catalog: () => readCatalogDir(),
      volumes: vols.access,
      images,
    };
    const unitText = (node: string, file: string) =>
      readFileSync(join(root, "nodes", node, "etc/systemd/system", file), "utf8");

    // Nothing published yet: every image unit is pushed naming a reference that cannot resolve.
    expect(await images.load()).toEqual({});
    const before = await runUnits(deps, {});
    expect(before.missingImages["hello@.service"]).toEqual(["hello"]);
    expect(unitText("i-w1", "hello@.service")).toContain(missingImageRef("hello"));

    const digest = (c: string) => `@sha256:${c.repeat(64)}`;
    const v1 = Object.fromEntries(
      IMAGE_NAMES.map((i) => [
        i,
        `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${cluster}/${i}:0.1.0-aaaa${digest("a")}`,
      ]),
    );
    await publishImages(ssm, cluster, v1, { requireDigest: true });
    expect(await images.load()).toEqual(v1);
    const first = await runUnits(deps, {});
    expect(first.missingImages).toEqual({});
    expect(unitText("i-w1", "hello@.service")).toContain(v1.hello);
    expect(unitText("i-w1", "etcd-amb.service")).toContain(v1["etcd-amb"]);
    expect(unitText("i-w1", "presence-dns.service")).toContain(v1["presence-dns"]);

    // Only hello changes: only hello's unit file is rewritten (and its instance restarted).
    const v2 = {
      ...v1,
      hello: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${cluster}/hello:0.1.0-bbbb${digest("b")}`,
    };
    await publishImages(ssm, cluster, v2, { requireDigest: true });
    const second = await runUnits(deps, {});
    expect(second.pushed.map((p) => p.nodeId)).toEqual(["i-w1"]);
    expect(second.results.flatMap((r) => r.written ?? [])).toEqual(["hello@.service"]);
    expect(unitText("i-w1", "hello@.service")).toContain(v2.hello);

    // A mutable or undigested reference is refused and nothing is published.
    await expect(publishImages(ssm, cluster, { ...v2, hello: "example/hello:latest" })).rejects.toThrow(
      /mutable tag/,
    );
    await expect(
      publishImages(ssm, cluster, { ...v2, hello: "r.example/hello:1" }, { requireDigest: true }),
    ).rejects.toThrow(/no digest/);
    expect(await images.load()).toEqual(v2);
  });
});

describe("placement stored in etcd", () => {
  it("compare-and-swap refuses a stale revision", async () => {
    const client = new Etcd3({ hosts: rig.etcd!.endpoints });
    try {
      const key = `/${rig.unique("t")}/cluster/placement`;
      const store = etcdPlacementStore(client, key);
      const a = await store.load();
      expect(a).toEqual({ state: EMPTY_PLACEMENT, revision: "0" });
      const s1: StoredPlacement = {
        placement: { "a.service": ["i-1"] },
        files: { "a.service": "h" },
        pending: [],
        updatedAt: "t1",
      };
      expect(await store.save(s1, a.revision)).toBe(true);
      expect(await store.save(s1, a.revision)).toBe(false);
      const b = await store.load();
      expect(b.state).toEqual(s1);
      expect(await store.save({ ...s1, updatedAt: "t2" }, b.revision)).toBe(true);
      expect(await store.save({ ...s1, updatedAt: "t3" }, b.revision)).toBe(false);
      expect((await store.load()).state.updatedAt).toBe("t2");
    } finally {
      client.close();
    }
  });
});

describe("units never drops what runs on main nodes by accident", () => {
  it("refuses a catalog without a main node's units unless confirmed, pushes one main node per command, and refuses non-unit keys", async () => {
    const root = join(rig.dir, "mains");
    const records = [
      rec("i-m1", "main", "a"),
      rec("i-m2", "main", "b"),
      rec("i-m3", "main", "c"),
      rec("i-w1", "worker", "a"),
    ];
    for (const r of records) prepareLocalNode(root, r.instanceId, r.role);
    const vols = fakeVolumeAccess(records.map((r) => r.instanceId));
    const runner = createLocalCommands({ root, attachments: vols.attachments });
    const requests: CommandRequest[] = [];
    const commands: Commands = { run: (req) => (requests.push(req), runner.run(req)) };
    const store = memoryStore();
    const deps: UnitsDeps = {
      log,
      nodes: { listNodes: async () => records },
      placements: store,
      commands,
      catalog: () => readCatalogDir(),
      volumes: vols.access,
    };
    const first = await runUnits(deps, {});
    expect(first.failed).toEqual([]);
    // Each main node in a command of its own; the worker's in another.
    for (const req of requests.filter((r) => r.instanceIds.some((id) => id.startsWith("i-m"))))
      expect(req.instanceIds).toHaveLength(1);
    const onMains = () =>
      records.filter((r) => r.role === "main").map((r) => nodeUnits(join(root, "nodes", r.instanceId)));
    const before = JSON.stringify(onMains());
    const placedBefore = JSON.stringify(store.state);

    // The partial catalog of the security review: etcd's own unit (and presence-dns) missing.
    const { "etcd-member.service": _etcd, "presence-dns.service": _dns, ...partial } = readCatalogDir();
    const dry = await runUnits(deps, { catalog: partial, dryRun: true });
    expect(dry.mainRemovals).toEqual(
      expect.arrayContaining([
        "etcd-member.service on i-m1",
        "etcd-member.service on i-m2",
        "etcd-member.service on i-m3",
      ]),
    );
    const sent = requests.length;
    await expect(runUnits(deps, { catalog: partial })).rejects.toThrow(
      /the catalog no longer has units that run on main nodes \(.*etcd-member\.service on i-m1.*\); nothing was pushed\. Push with "confirm": true/,
    );
    expect(requests.length).toBe(sent);
    expect(JSON.stringify(onMains())).toBe(before);
    expect(JSON.stringify(store.state)).toBe(placedBefore);

    // An empty catalog would drop every unit on every node: refused the same way, nothing sent.
    await expect(runUnits(deps, { catalog: {} })).rejects.toThrow(
      /the catalog no longer has units that run on main nodes .*nothing was pushed/,
    );
    expect(requests.length).toBe(sent);
    expect(JSON.stringify(onMains())).toBe(before);
    expect(JSON.stringify(store.state)).toBe(placedBefore);

    // Keys that are no unit file names, `__proto__` among them, are refused by name.
    for (const bad of [
      '{"__proto__": {"x.service": "[Service]\\nExecStart=/bin/true\\n"}}',
      '{"../x.service": ""}',
      '{"-x.service": ""}',
    ]) {
      await expect(runUnits(deps, { catalog: JSON.parse(bad) })).rejects.toThrow(/not a unit file name/);
    }
    expect(requests.length).toBe(sent);

    // Confirmed, the drop goes through (and only then).
    const confirmed = await runUnits(deps, { catalog: partial, confirm: true });
    expect(confirmed.saved).toBe(true);
    expect(onMains().every((n) => !n.files.includes("etcd-member.service"))).toBe(true);
  });
});

/** Grants as one line each, in nodeAccess's terms, sorted. */
const grantLines = (gs: { permission: string; key: string; prefix: boolean }[]) =>
  gs.map((g) => `${g.permission} ${g.key} ${g.prefix ? "prefix" : "key"}`).sort();
/** A node's role as etcd holds it. */
async function roleGrants(client: Etcd3, id: string) {
  const { perm = [] } = await client.auth.roleGet({ role: nodeRole(id) });
  return grantLines(
    perm.map((p) => ({
      permission: String(p.permType),
      key: Buffer.from(p.key).toString(),
      prefix: Boolean(p.range_end?.length),
    })),
  );
}
/** The role a node needs under a placement of the repository's catalog. */
const wantedGrants = (id: string, placement: Record<string, string[]>, catalog = readCatalogDir()) =>
  grantLines(nodeAccess(id, announcedByNode(loadCatalog(catalog), placement).get(id) ?? []).grants);

/** Node directories for these nodes, their volumes (fake), the local runner, and etcd's users and roles. */
function rolesRig(name: string, records: NodeRecord[]) {
  const root = join(rig.dir, name);
  for (const r of records) prepareLocalNode(root, r.instanceId, r.role);
  const vols = fakeVolumeAccess(records.map((r) => r.instanceId));
  const client = new Etcd3({ hosts: rig.etcd!.endpoints });
  return {
    vols,
    commands: createLocalCommands({ root, attachments: vols.attachments }),
    client,
    store: etcdNodeAccessStore(client),
  };
}

describe("etcd roles follow the placement", () => {
  it("a push gives each node it reaches the role its units need, again changes nothing, and a terminating node loses its own", async () => {
    const ids = { m: "i-0cc0000000000a001", w1: "i-0cc0000000000b001", w2: "i-0cc0000000000b002" };
    const records = [rec(ids.m, "main", "a"), rec(ids.w1, "worker", "a"), rec(ids.w2, "worker", "b")];
    const { vols, commands, client, store } = rolesRig("access", records);
    const applied: string[] = [];
    let locked = 0;
    const deps: UnitsDeps = {
      // The units lock, as the runtime wiring holds it around a push (a dry run needs none).
      exclusive: async (fn) => {
        locked++;
        return fn();
      },
      log,
      nodes: { listNodes: async () => records },
      placements: memoryStore(),
      commands,
      catalog: () => readCatalogDir(),
      volumes: vols.access,
      access: {
        apply: async (a) => (applied.push(a.user), store.apply(a)),
        remove: (a) => store.remove(a),
      },
    };
    const grantsOf = (id: string) => roleGrants(client, id);
    const want = wantedGrants;
    try {
      const first = await runUnits(deps, {});
      expect(first.failed).toEqual([]);
      expect(applied.sort()).toEqual(Object.values(ids).sort());
      // A worker holds its placed instances' presence keys; every node reads /services/.
      const announcing = Object.values(ids).filter((id) => want(id, first.placement).length > 1);
      expect(announcing.length).toBeGreaterThan(0);
      for (const id of Object.values(ids)) {
        expect(await grantsOf(id)).toEqual(want(id, first.placement));
        expect((await client.auth.userGet({ name: id })).roles).toEqual([nodeRole(id)]);
      }
      // Nothing changed: no push, so no role is touched; a forced sync re-applies and changes nothing.
      applied.length = 0;
      await runUnits(deps, {});
      expect(applied).toEqual([]);
      const before = await Promise.all(Object.values(ids).map(grantsOf));
      await runUnits(deps, { force: true });
      expect(applied.sort()).toEqual(Object.values(ids).sort());
      expect(await Promise.all(Object.values(ids).map(grantsOf))).toEqual(before);
      expect(locked).toBe(3);
      await runUnits(deps, { dryRun: true });
      expect(locked).toBe(3);

      // w2 terminates: its units move, its user and role go; the others hold what they now run.
      const gone = records.find((r) => r.instanceId === ids.w2)!;
      gone.state = "leaving";
      const after = await syncUnits(deps, { terminating: ids.w2 });
      records.splice(records.indexOf(gone), 1);
      await expect(client.auth.roleGet({ role: nodeRole(ids.w2) })).rejects.toThrow(/role name not found/i);
      await expect(client.auth.userGet({ name: ids.w2 })).rejects.toThrow(/user name not found/i);
      for (const id of [ids.m, ids.w1]) expect(await grantsOf(id)).toEqual(want(id, after.placement));
    } finally {
      client.close();
    }
  });

  it("a run that loses the placement to another run meanwhile leaves every node the role the stored placement needs", async () => {
    const ids = { m: "i-0cc0000000000c001", w1: "i-0cc0000000000d001", w2: "i-0cc0000000000d002" };
    const all = [rec(ids.m, "main", "a"), rec(ids.w1, "worker", "a"), rec(ids.w2, "worker", "a")];
    const { vols, commands, client, store } = rolesRig("access-race", all);
    const placements = memoryStore();
    const base = { log, placements, commands, catalog: () => readCatalogDir(), volumes: vols.access };
    // Run A pushes the catalog without hello; it runs to the end between run B's plan (the whole
    // catalog) and B's first role change, so B's first attempt changes roles after A's and then
    // finds A's placement stored: B plans again from it, hello where there is room, the rest where
    // A put it.
    // (Without the catalog's volume unit: B's stale push would otherwise wait on A's attachment.)
    const { "postgres@.service": _postgres, ...catalog } = readCatalogDir();
    const { "hello@.service": _hello, ...withoutHello } = catalog;
    const runA = () =>
      syncUnits({ ...base, nodes: { listNodes: async () => all }, access: store }, { catalog: withoutHello });
    let interleaved = false;
    /** What B's first attempt gave each node (before it knew of A's placement). */
    const firstGiven = new Map<string, string[]>();
    const b: UnitsDeps = {
      ...base,
      nodes: { listNodes: async () => all },
      access: {
        apply: async (a) => {
          if (!interleaved) {
            interleaved = true;
            await runA();
          }
          if (!firstGiven.has(a.user)) firstGiven.set(a.user, grantLines(a.grants));
          return store.apply(a);
        },
        remove: (a) => store.remove(a),
      },
    };
    const grantsOf = (id: string) => roleGrants(client, id);
    const want = (id: string, placement: Record<string, string[]>) => wantedGrants(id, placement, catalog);
    try {
      const report = await syncUnits(b, { catalog });
      expect(interleaved).toBe(true);
      expect(report.attempts).toBe(2);
      expect(report.saved).toBe(true);
      const stored = placements.state.placement;
      // B's first attempt gave some node a role the stored placement does not need: the case.
      expect(
        Object.values(ids).some(
          (id) => firstGiven.has(id) && String(firstGiven.get(id)) !== String(want(id, stored)),
        ),
      ).toBe(true);
      for (const id of Object.values(ids)) expect(await grantsOf(id), id).toEqual(want(id, stored));
    } finally {
      client.close();
    }
  }, 120_000);
});
