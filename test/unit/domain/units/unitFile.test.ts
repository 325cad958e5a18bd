import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../../functions/domain/errors.ts";
import {
  expandSpecifiers,
  fleetRules,
  getList,
  getValue,
  parseUnitFile,
  parseUnitName,
  renderUnitFile,
  splitWords,
  escapeName,
  unescapeName,
  globToRegExp,
} from "../../../../functions/domain/units/index.ts";

const strip = (u: ReturnType<typeof parseUnitFile>) =>
  u.sections.map((s) => ({ name: s.name, entries: s.entries.map((e) => [e.key, e.value]) }));
const roundTrip = (name: string, text: string) => {
  const a = parseUnitFile(name, text);
  const b = parseUnitFile(name, renderUnitFile(a));
  expect(strip(b)).toEqual(strip(a));
  expect(renderUnitFile(b)).toBe(renderUnitFile(a));
  return a;
};

// The shapes of the original team's units.
const DOCKER_SERVICE = `[Unit]
Description=elasticsearch %i
After=docker.service
Requires=docker.service

[Service]
TimeoutStartSec=0
EnvironmentFile=/etc/environment
ExecStartPre=-/usr/bin/docker kill %p-%i
ExecStartPre=-/usr/bin/docker rm %p-%i
ExecStartPre=/usr/bin/docker pull example/elasticsearch:1.7
ExecStart=/bin/sh -c "/usr/bin/docker run --rm --name %p-%i \\
  -p 9200:9200 -p 9300:9300 \\
  -e ES_HOST=\${COREOS_PRIVATE_IPV4} \\
  example/elasticsearch:1.7"
ExecStop=/usr/bin/docker stop %p-%i

[X-Fleet]
Conflicts=elasticsearch@*.service
MachineMetadata=role=data
`;

const SIDECAR = `[Unit]
Description=announce elasticsearch %i
BindsTo=elasticsearch@%i.service
After=elasticsearch@%i.service

[Service]
EnvironmentFile=/etc/environment
ExecStart=/bin/sh -c "while true; do etcdctl set /services/elasticsearch/instances/%i/private_ip \${COREOS_PRIVATE_IPV4} --ttl 60; sleep 45; done"
ExecStop=/usr/bin/etcdctl rm /services/elasticsearch/instances/%i

[X-Fleet]
MachineOf=elasticsearch@%i.service
`;

const GLOBAL = `# every worker
[Unit]
Description=etcd ambassador

[Service]
ExecStart=/usr/bin/docker run --rm --net host example/etcd-amb
Restart=always

[X-Fleet]
Global=true
MachineMetadata=role=worker
`;

describe("unit files", () => {
  it("round-trips a docker-run service with continuations and repeated keys", () => {
    const u = roundTrip("elasticsearch@.service", DOCKER_SERVICE);
    expect(getList(u, "Service", "ExecStartPre").map((e) => e.value)).toHaveLength(3);
    // systemd: the trailing backslash becomes a space and the next line is appended as it is.
    expect(getValue(u, "Service", "ExecStart")).toBe(
      '/bin/sh -c "/usr/bin/docker run --rm --name %p-%i    -p 9200:9200 -p 9300:9300    -e ES_HOST=${COREOS_PRIVATE_IPV4}    example/elasticsearch:1.7"',
    );
    expect(getList(u, "Service", "ExecStart")[0]!.line).toBe(12);
    expect(fleetRules(u)).toMatchObject({
      conflicts: ["elasticsearch@*.service"],
      metadata: [{ key: "role", values: ["data"] }],
      global: false,
    });
  });

  it("round-trips a presence sidecar with BindsTo and MachineOf", () => {
    const u = roundTrip("elasticsearch-presence@.service", SIDECAR);
    expect(getValue(u, "Unit", "BindsTo")).toBe("elasticsearch@%i.service");
    expect(fleetRules(u).machineOf).toEqual(["elasticsearch@%i.service"]);
  });

  it("round-trips a Global unit and drops comments", () => {
    const u = roundTrip("etcd-amb.service", GLOBAL);
    expect(fleetRules(u)).toMatchObject({ global: true, metadata: [{ key: "role", values: ["worker"] }] });
    expect(renderUnitFile(u)).not.toContain("#");
  });

  it("reads comments inside continuations, blanks and ';' comments as systemd does", () => {
    const u = parseUnitFile(
      "a.service",
      "[Service]\nExecStart=/bin/echo a \\\n# a comment inside\n  ; another\n b\n  Key = spaced value  \n",
    );
    expect(getValue(u, "Service", "ExecStart")).toBe("/bin/echo a   b");
    expect(getValue(u, "Service", "Key")).toBe("spaced value");
  });

  it("keeps an escaped trailing backslash as a value, and renders a value ending in '\\' safely", () => {
    const u = parseUnitFile("a.service", "[Service]\nExecStart=/bin/echo a\\\\\nType=simple\n");
    expect(getValue(u, "Service", "ExecStart")).toBe("/bin/echo a\\\\");
    expect(getValue(u, "Service", "Type")).toBe("simple");
    const odd = {
      sections: [
        {
          name: "Service",
          line: 1,
          entries: [
            { key: "ExecStart", value: "/bin/echo \\", line: 2 },
            { key: "Type", value: "simple", line: 3 },
          ],
        },
      ],
    };
    const back = parseUnitFile("a.service", renderUnitFile(odd));
    expect(getValue(back, "Service", "ExecStart")).toBe("/bin/echo \\");
    expect(getValue(back, "Service", "Type")).toBe("simple");
  });

  it("treats an empty assignment as a list reset and the last single value as the effective one", () => {
    const u = parseUnitFile(
      "a.service",
      "[Unit]\nAfter=a.service\nAfter=\nAfter=b.service c.service\n[Service]\nRestart=no\nRestart=always\nExecStart=/bin/true\n",
    );
    expect(getList(u, "Unit", "After").map((e) => e.value)).toEqual(["b.service c.service"]);
    expect(getValue(u, "Service", "Restart")).toBe("always");
  });

  it("merges a repeated section into the first, as systemd does", () => {
    const u = parseUnitFile(
      "a.service",
      "[Service]\nExecStart=/bin/a\n[Unit]\nDescription=x\n[Service]\nRestart=always\n",
    );
    expect(u.sections.map((s) => s.name)).toEqual(["Service", "Unit"]);
    expect(getValue(u, "Service", "Restart")).toBe("always");
  });

  it.each([
    ["Description=x\n", 1, "assignment outside of a section"],
    ["[Unit]\nDescription\n", 2, "missing '='"],
    ["[Unit\n", 1, "invalid section header"],
    ["[Unit]\n[Bogus]\nA=b\n", 2, "unknown section [Bogus]"],
    ["[Service]\nExecStart=/bin/echo %z\n", 2, "unknown specifier %z"],
    ["[Service]\nExec Start=/bin/true\n", 2, "invalid key"],
    [
      "[Unit]\nA=b\n\n[X-Fleet]\nMachineOf=a.service \\\n  b.service\nMachineWho=x\n",
      7,
      "unknown [X-Fleet] key 'MachineWho'",
    ],
    ["[X-Fleet]\nGlobal=maybe\n", 2, "Global= takes a boolean"],
    ["[X-Fleet]\nGlobal=true\nConflicts=a*.service\n", 3, "Global=true allows only MachineMetadata"],
    ["[X-Fleet]\nMachineMetadata=role\n", 2, "not key=value"],
  ])("rejects %j at line %i", (text, line, reason) => {
    let err: unknown;
    try {
      const u = parseUnitFile("bad.service", text);
      fleetRules(u);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidInputError);
    const issue = (err as InvalidInputError).issues[0]!;
    expect(issue).toContain(`bad.service:${line}:`);
    expect(issue).toContain(reason);
  });

  it("rejects invalid unit names", () => {
    expect(() => parseUnitFile("no-suffix", "[Unit]\n")).toThrow(InvalidInputError);
    expect(() => parseUnitFile("bad name.service", "[Unit]\n")).toThrow(/not a valid systemd unit name/);
  });
});

describe("names and specifiers", () => {
  it("parses plain units, templates and instances (an instance may hold '@')", () => {
    expect(parseUnitName("nginx@.service")).toMatchObject({ prefix: "nginx", instance: "", type: "service" });
    expect(parseUnitName("presence@nginx@1.service")).toMatchObject({
      prefix: "presence",
      instance: "nginx@1",
    });
    expect(parseUnitName("etcd-member.service")).toMatchObject({
      prefix: "etcd-member",
      instance: undefined,
    });
    expect(parseUnitName("x.unknown")).toBeUndefined();
  });

  it("expands specifiers as systemd does", () => {
    const n = parseUnitName("foo-bar@a\\x2db-c.service")!;
    expect(
      expandSpecifiers("%n|%N|%p|%P|%i|%I|%j|%f|%%|%H|%m", n, { hostname: "node1.dev", machineId: "abc" }),
    ).toBe(
      "foo-bar@a\\x2db-c.service|foo-bar@a\\x2db-c|foo-bar|foo-bar|a\\x2db-c|a-b-c|bar|/a-b/c|%|node1.dev|abc",
    );
    // Without host facts, host specifiers stay for systemd to expand on the node.
    expect(expandSpecifiers("%H %t", n)).toBe("%H %t");
  });

  it("escapes and unescapes like systemd-escape", () => {
    expect(escapeName("/var/lib/x y", true)).toBe("var-lib-x\\x20y");
    expect(unescapeName("var-lib-x\\x20y", true)).toBe("var/lib/x y");
    expect(escapeName("a-b")).toBe("a\\x2db");
  });

  it("splits fleet multi-values and matches fleet globs", () => {
    expect(splitWords(`role=worker "region=eu west" zone=a`)).toEqual([
      "role=worker",
      "region=eu west",
      "zone=a",
    ]);
    expect(globToRegExp("nginx@*.service").test("nginx@12.service")).toBe(true);
    expect(globToRegExp("nginx@*.service").test("presence@nginx@1.service")).toBe(false);
    expect(globToRegExp("db-[ab]?.service").test("db-a1.service")).toBe(true);
  });
});
