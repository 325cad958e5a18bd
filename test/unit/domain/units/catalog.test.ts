import { describe, expect, it } from "vitest";
import { CATALOG_DIR, readCatalogDir } from "../../../../functions/catalog/index.ts";
import { ETCD_MEMBER_UNIT } from "../../../../functions/domain/firstBoot.ts";
import { InvalidInputError } from "../../../../functions/domain/errors.ts";
import {
  getList,
  loadCatalog,
  parseUnitFile,
  renderUnitFile,
} from "../../../../functions/domain/units/index.ts";
import { IMAGE_NAMES } from "../../../../functions/domain/images.ts";

const issuesOf = (src: Record<string, string>) => {
  try {
    loadCatalog(src);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    return (e as InvalidInputError).issues;
  }
  throw new Error("catalog was accepted");
};

describe("the repository catalog", () => {
  const catalog = loadCatalog(readCatalogDir());
  // The default catalog and every team service (functions/catalog/team/) together, as a cluster that
  // runs them all loads them: the checks below hold for each file of either folder.
  const everything = loadCatalog(readCatalogDir(CATALOG_DIR, "all"));

  it("reads the team's services too", () => {
    expect([...everything.files.keys()]).toEqual(
      expect.arrayContaining(["gerrit@.service", "mariadb@.service", "phpapp@.service"]),
    );
  });

  it("declares the cluster's own units (a unit added by the runbook is allowed: the list is a floor)", () => {
    expect(catalog.units.map((u) => u.name).sort()).toEqual(
      expect.arrayContaining([
        "etcd-amb.service",
        "etcd-member.service",
        "hello@1.service",
        "nginx@1.service",
        "nginx@2.service",
        "presence-dns.service",
        "presence@hello@1.service",
        "presence@nginx@1.service",
        "presence@nginx@2.service",
      ]),
    );
    expect(catalog.byName.get("presence@nginx@1.service")!.rules.machineOf).toEqual(["nginx@1.service"]);
    expect(catalog.byName.get("etcd-amb.service")!.rules.metadata).toEqual([
      { key: "role", values: ["worker", "data"], notValues: [] },
    ]);
    // TLS material comes from SSM Parameter Store, never from etcd.
    expect(catalog.files.get("nginx@.service")!.manifest.etcdKeys.join()).not.toMatch(/ssl/);
  });

  it("ships etcd-member.service exactly as first boot installs it, without starting it", () => {
    const f = catalog.files.get("etcd-member.service")!;
    expect(f.rendered).toBe(renderUnitFile(parseUnitFile("etcd-member.service", ETCD_MEMBER_UNIT)));
    expect(f.manifest.start).toBe(false);
  });

  it("names every image through a placeholder of a built image, never a mutable tag, and pulls nothing", () => {
    const used = new Set<string>();
    for (const f of everything.files.values()) {
      for (const key of ["ExecStart", "ExecStartPre"])
        for (const e of getList(f.unit, "Service", key)) {
          expect(e.value, f.name).not.toMatch(/docker pull|:latest\b/);
          const run = /docker run (.*)$/.exec(e.value);
          if (!run) continue;
          const images = [...run[1]!.matchAll(/\{\{image:([a-z0-9-]+)\}\}/g)].map((m) => m[1]);
          expect(images, `${f.name}: ${e.value}`).toHaveLength(1);
          expect(IMAGE_NAMES as readonly string[], f.name).toContain(images[0]);
          used.add(images[0]!);
        }
    }
    expect([...used].sort()).toEqual([...IMAGE_NAMES].sort()); // every image runs somewhere
  });

  it("renders node files without [X-Fleet] or [X-Devcluster]", () => {
    for (const f of everything.files.values()) expect(f.rendered).not.toMatch(/\[X-/);
  });
});

const svc = (fleet: string, manifest = "") =>
  `[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\n\n[X-Fleet]\n${fleet}\n${manifest ? `\n[X-Devcluster]\n${manifest}\n` : ""}`;

describe("catalog validation", () => {
  it("rejects an unknown MachineOf target with file and line", () => {
    const issues = issuesOf({ "a.service": svc("MachineOf=missing.service") });
    expect(issues).toEqual([
      expect.stringMatching(/^a\.service:8: a\.service: unknown MachineOf target missing\.service/),
    ]);
  });

  it("rejects MachineOf cycles", () => {
    const issues = issuesOf({
      "a.service": svc("MachineOf=b.service"),
      "b.service": svc("MachineOf=a.service"),
    });
    expect(issues.join("\n")).toMatch(/MachineOf cycle: a\.service -> b\.service -> a\.service/);
  });

  it("rejects a template without an instance count, an unknown sidecar, and collects every problem", () => {
    const issues = issuesOf({
      "t@.service": svc("MachineMetadata=role=worker"),
      "u@.service": svc("MachineMetadata=role=worker", "Instances=2\nSidecars=ghost"),
      "bad.service": "[Unit]\nnonsense\n",
    });
    expect(issues.join("\n")).toMatch(/bad\.service:2: missing '='/);
    expect(issues.join("\n")).toMatch(/t@\.service:1: a template needs Instances=N/);
    expect(issues.join("\n")).toMatch(/u@\.service:\d+: sidecar ghost@\.service is not in the catalog/);
  });

  it("when a catalog holds many problems, one load reports every one of them as file:line: reason", () => {
    const issues = issuesOf({
      // Three syntax problems in one file, and a manifest problem after them.
      "web@.service": [
        "[Unit]", // 1
        "Description=web %i", // 2
        "Documentation", // 3: no '='
        "[Service]", // 4
        "ExecStart=/bin/web", // 5
        "Environment=SEED=%z", // 6: unknown specifier
        "Exec Stop=/bin/true", // 7: invalid key
        "[X-Fleet]", // 8
        "MachineMetadata=role", // 9: not key=value
        "Global=maybe", // 10: not a boolean
        "[X-Devcluster]", // 11
        "Instances=two", // 12: not a count
      ].join("\n"),
      // A bad section (its keys are not reported again), then a problem in a good one.
      "db.service": "[Unit]\n[Servce]\nExecStart=/bin/db\n[X-Fleet]\nMachineOf=nowhere.service\n",
      // A file whose name is no unit name, and a valid file beside them.
      "notes.txt.service~": "[Unit]\n",
      "ok.service": "[Unit]\n[Service]\nExecStart=/bin/ok\n",
    });
    expect([...issues].sort()).toEqual(
      [
        "web@.service:3: missing '=' in 'Documentation'",
        "web@.service:6: unknown specifier %z in Environment= (write %% for a literal %)",
        "web@.service:7: invalid key 'Exec Stop'",
        "web@.service:9: MachineMetadata word 'role' is not key=value or key!=value",
        "web@.service:10: Global= takes a boolean, not 'maybe'",
        "web@.service:12: Instances= takes a count 0..10000, not 'two'",
        "db.service:2: unknown section [Servce] for a .service unit",
        "db.service:0: a service needs ExecStart=",
        "db.service:5: db.service: unknown MachineOf target nowhere.service",
        "notes.txt.service~:0: 'notes.txt.service~' is not a valid systemd unit name",
      ].sort(),
    );
  });

  it("rejects a service without ExecStart and unknown manifest keys", () => {
    const issues = issuesOf({ "a.service": "[Unit]\nDescription=x\n[X-Devcluster]\nInstancez=3\n" });
    expect(issues.join("\n")).toMatch(/a\.service:4: unknown \[X-Devcluster\] key 'Instancez'/);
    expect(issues.join("\n")).toMatch(/a needs ExecStart|a service needs ExecStart/);
  });

  it("says who may use a service through the front door: Public=true, Groups=, or any signed-in user", () => {
    const load = (manifest: string) =>
      loadCatalog({
        "web@.service": svc(
          "MachineMetadata=role=worker",
          `Instances=1\nSidecars=presence\nPorts=http:8080\n${manifest}`,
        ),
        "presence@.service": svc("MachineOf=%i.service", "Sidecar=true"),
      }).files.get("web@.service")!.manifest.sidecarEnv!;
    expect(load("Http=http\nPublic=true")).toContain("ACCESS_PUBLIC=true\n");
    expect(load("Http=http\nGroups=admins developers")).toContain("ACCESS_GROUPS=admins,developers\n");
    const plain = load("Http=http");
    expect(plain).not.toContain("ACCESS_");
    const bad = (manifest: string) =>
      issuesOf({
        "web@.service": svc(
          "MachineMetadata=role=worker",
          `Instances=1\nSidecars=presence\nPorts=http:8080\n${manifest}`,
        ),
        "presence@.service": svc("MachineOf=%i.service", "Sidecar=true"),
      }).join("\n");
    expect(bad("Http=http\nPublic=true\nGroups=admins")).toMatch(
      /web@\.service:\d+: a Public=true service has no Groups=/,
    );
    expect(bad("Http=http\nGroups=admins,dev")).toMatch(/Groups= takes group names .* not 'admins,dev'/);
    expect(bad("Http=http\nPublic=maybe")).toMatch(/Public= takes true or false, not 'maybe'/);
    expect(bad("Groups=admins")).toMatch(/Public= and Groups= apply to the Http= port; set Http=/);
  });

  it("renders what presence announces and what the ambassador forwards as the sidecars' settings", () => {
    const c = loadCatalog({
      "web@.service": svc(
        "MachineMetadata=role=worker",
        "Instances=1\nSidecars=presence ambassador\nPorts=http:8080 ssh:2222\nHttp=http\nStreams=ssh:29418\nHealthCheck=http:http/healthz\nElection=true\nUpstreams=pg:5432:master cache/redis:6379",
      ),
      "presence@.service": svc("MachineOf=%i.service", "Sidecar=true"),
      "ambassador@.service": svc("MachineOf=%i.service", "Sidecar=true"),
    });
    // Lists comma-separated: presence's unit passes `-e PORTS=${PORTS}`, which systemd splits at spaces.
    expect(c.files.get("web@.service")!.manifest.sidecarEnv).toBe(
      "# sidecar settings of web@.service (its [X-Devcluster] section)\nSERVICE=web\nPORTS=http:8080,ssh:2222\nHTTP_PORT_NAME=http\nSTREAMS=ssh:29418\nHEALTH_CHECK=http:http/healthz\nELECTION=true\nUPSTREAMS=pg:5432:master,cache/redis:6379\n",
    );
    // The settings are part of the file's hash: changing them pushes the file again.
    const other = loadCatalog({
      "web@.service": svc("MachineMetadata=role=worker", "Instances=1\nSidecars=presence\nPorts=http:8081"),
      "presence@.service": svc("MachineOf=%i.service", "Sidecar=true"),
    });
    const same = loadCatalog({
      "web@.service": svc("MachineMetadata=role=worker", "Instances=1\nSidecars=presence\nPorts=http:8080"),
      "presence@.service": svc("MachineOf=%i.service", "Sidecar=true"),
    });
    expect(other.files.get("web@.service")!.rendered).toBe(same.files.get("web@.service")!.rendered);
    expect(other.files.get("web@.service")!.hash).not.toBe(same.files.get("web@.service")!.hash);
  });

  it("rejects presence and ambassador settings that cannot work, with file and line", () => {
    const issues = issuesOf({
      "a@.service": svc(
        "MachineMetadata=role=worker",
        "Instances=1\nSidecars=presence\nPorts=http:99999\nHttp=web\nHealthCheck=udp:x",
      ),
      "b@.service": svc("MachineMetadata=role=worker", "Instances=1\nSidecars=presence"),
      "c@.service": svc("MachineMetadata=role=worker", "Instances=1\nPorts=http:80\nUpstreams=Bad:1"),
      "d@.service": svc(
        "MachineMetadata=role=worker",
        "Instances=1\nSidecars=presence\nPorts=http:80 ssh:22\nStreams=git:29418\nService=Not_A_Label",
      ),
      "presence@.service": svc("MachineOf=%i.service", "Sidecar=true"),
    }).join("\n");
    expect(issues).toMatch(/a@\.service:\d+: Ports= 'http:99999' is not name:port/);
    expect(issues).toMatch(
      /a@\.service:\d+: HealthCheck= takes tcp:<port>, http:<port>\/<path> or none, not 'udp:x'/,
    );
    expect(issues).toMatch(/b@\.service:\d+: Sidecars=presence needs Ports=/);
    expect(issues).toMatch(
      /c@\.service:\d+: Upstreams= takes <service>\[\/<portName>\]:<localPort>\[:master\], not 'Bad:1'/,
    );
    expect(issues).toMatch(
      /c@\.service:\d+: Ports= and the other presence keys are announced by the presence sidecar/,
    );
    expect(issues).toMatch(/d@\.service:\d+: Streams= names no port 'git' of Ports=/);
    expect(issues).toMatch(/d@\.service:\d+: service 'Not_A_Label' .* must be a DNS label/);
  });

  it("refuses two services declaring one port (host networking: both would bind it on a shared node)", () => {
    const issues = issuesOf({
      "api@.service": svc("MachineMetadata=role=worker", "Instances=1\nSidecars=presence\nPorts=http:8097"),
      "drop@.service": svc("MachineMetadata=role=worker", "Instances=1\nSidecars=presence\nPorts=web:8097"),
      "web@.service": svc("MachineMetadata=role=worker", "Instances=2\nSidecars=presence\nPorts=http:8080"),
      "presence@.service": svc("MachineOf=%i.service", "Sidecar=true"),
    });
    expect(issues).toEqual([
      expect.stringMatching(/^drop@\.service:\d+: port 8097 is also declared by api@\.service: two services/),
    ]);
    // The repository's catalog, team services included, gives every service its own port.
    expect(() => loadCatalog(readCatalogDir(CATALOG_DIR, "all"))).not.toThrow();
  });

  it("expands templates and sidecars with their specifiers", () => {
    const c = loadCatalog({
      "web@.service": svc(
        "MachineMetadata=role=worker\nConflicts=%p@*.service",
        "InstanceNames=blue green\nSidecars=side",
      ),
      "side@.service": svc("MachineOf=%i.service", "Sidecar=true"),
    });
    expect(c.units.map((u) => u.name).sort()).toEqual([
      "side@web@blue.service",
      "side@web@green.service",
      "web@blue.service",
      "web@green.service",
    ]);
    expect(c.byName.get("web@green.service")!.rules.conflicts).toEqual(["web@*.service"]);
    expect(c.byName.get("side@web@green.service")!.rules.machineOf).toEqual(["web@green.service"]);
  });
});
