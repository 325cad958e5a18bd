// `devcluster db`: its usage checks, the node and container it picks, the dump it resolves, and that
// a restore nobody confirmed runs nothing on the node.
import { describe, expect, it } from "vitest";
import {
  checkDbArgs,
  databaseUnit,
  dbCommand,
  dbToolScript,
  dumpChoice,
  runDbTool,
} from "../../../bin/ops/databases.ts";
import type { OpsTarget } from "../../../bin/ops/target.ts";
import type { ClusterView } from "../../../functions/domain/clusterView.ts";
import type { CommandRequest, CommandResult } from "../../../functions/ports/index.ts";
import {
  DevclusterError,
  InvalidInputError,
  NotFoundError,
  RefusedError,
} from "../../../functions/domain/errors.ts";

const view = {
  cluster: "dev",
  units: [
    { name: "postgres@1.service", machines: ["i-a"] },
    { name: "pg2@1.service", machines: ["i-b"] },
    { name: "pg2@2.service", machines: ["i-c"] },
    { name: "idle@1.service", machines: [] },
  ],
} as unknown as ClusterView;

/** A target whose node answers each script with `answer` (and records what it was sent). */
function fakeTarget(answer: (req: CommandRequest) => Partial<CommandResult>) {
  const sent: CommandRequest[] = [];
  const t = {
    describe: "fake",
    cluster: "dev",
    invoke: async () => view,
    commands: {
      run: async (req: CommandRequest) => {
        sent.push(req);
        return [
          {
            instanceId: req.instanceIds[0]!,
            status: "Success",
            exitCode: 0,
            stdout: "",
            stderr: "",
            ...answer(req),
          },
        ];
      },
    },
  } as unknown as OpsTarget;
  return { t, sent };
}

describe("db usage", () => {
  it("takes dumps <service> [<client>] and restore <service> <client> <dump>", () => {
    expect(() => checkDbArgs(["dumps", "postgres"])).not.toThrow();
    expect(() => checkDbArgs(["dumps", "postgres", "build-bot"])).not.toThrow();
    expect(() => checkDbArgs(["restore", "postgres", "wiki", "latest"])).not.toThrow();
    expect(() => checkDbArgs(["dump", "postgres", "wiki"])).not.toThrow();
    expect(() => checkDbArgs(["dump", "postgres"])).toThrow(InvalidInputError);
    expect(() => checkDbArgs(["dump", "postgres", "wiki", "x"])).toThrow(InvalidInputError);
    for (const bad of [
      [],
      ["drop", "postgres"],
      ["dumps"],
      ["dumps", "Post"],
      ["restore", "postgres", "wiki"],
      ["restore", "postgres", "a;b", "latest"],
      ["dumps", "postgres", "wiki", "x"],
    ])
      expect(() => checkDbArgs(bad), bad.join(" ")).toThrow(InvalidInputError);
  });

  it("resolves a dump named by its time to its key; refuses what cannot be a key", () => {
    expect(dumpChoice("dev", "postgres", "build-bot", "2026-11-26T20-00-01-234Z")).toBe(
      "db-dumps/dev/postgres/build_bot/2026-11-26T20-00-01-234Z.dump",
    );
    expect(dumpChoice("dev", "postgres", "wiki", "2026-11-26T20-00-01-234Z.dump")).toBe(
      "db-dumps/dev/postgres/wiki/2026-11-26T20-00-01-234Z.dump",
    );
    expect(dumpChoice("dev", "postgres", "wiki", "latest")).toBe("latest");
    expect(dumpChoice("dev", "postgres", "wiki", "db-dumps/dev/x/wiki/a.dump")).toBe(
      "db-dumps/dev/x/wiki/a.dump",
    );
    expect(() => dumpChoice("dev", "postgres", "wiki", "a b;rm")).toThrow(InvalidInputError);
  });
});

describe("the database's node", () => {
  it("is where its one placed instance runs; its container is <service>-<instance>", () => {
    expect(databaseUnit(view, "postgres")).toEqual({
      unit: "postgres@1.service",
      machine: "i-a",
      container: "postgres-1",
    });
    expect(databaseUnit(view, "pg2", "2")).toEqual({
      unit: "pg2@2.service",
      machine: "i-c",
      container: "pg2-2",
    });
    expect(() => databaseUnit(view, "pg2")).toThrow(/2 placed instances .*--instance/);
    expect(() => databaseUnit(view, "idle")).toThrow(NotFoundError);
    expect(() => databaseUnit(view, "nothing")).toThrow(NotFoundError);
  });

  it("runs the program in the container, every word quoted", () => {
    expect(
      dbToolScript("postgres-1", ["restore", "wiki", "db-dumps/dev/postgres/wiki/x.dump", "--id", "r-1"]),
    ).toBe(
      "docker exec 'postgres-1' perl control.pl 'restore' 'wiki' 'db-dumps/dev/postgres/wiki/x.dump' '--id' 'r-1'",
    );
  });

  it("turns the program's refusal into the operator's, and a missing answer into an error", async () => {
    const at = { machine: "i-a", unit: "postgres@1.service", container: "postgres-1" };
    const refused = fakeTarget(() => ({
      status: "Failed",
      exitCode: 3,
      stdout: '{"error":"x has no manifest","refused":true}\n',
    }));
    await expect(runDbTool(refused.t, at, ["dumps"], 60)).rejects.toThrow(RefusedError);
    const broken = fakeTarget(() => ({ status: "Failed", exitCode: 127, stderr: "docker: not found" }));
    await expect(runDbTool(broken.t, at, ["dumps"], 60)).rejects.toThrow(
      /no answer from its program .*docker: not found/,
    );
    const down = fakeTarget(() => ({ status: "Undeliverable", exitCode: -1, stderr: "node is not running" }));
    await expect(runDbTool(down.t, at, ["dumps"], 60)).rejects.toThrow(DevclusterError);
  });
});

describe("db restore", () => {
  const listing = {
    service: "postgres",
    dumps: [
      {
        database: "wiki",
        key: "db-dumps/dev/postgres/wiki/2026-11-26T20-00-01-234Z.dump",
        bytes: 9,
        finishedAt: "2026-11-26T20:00:02.000Z",
      },
    ],
    partial: 0,
    more: 0,
  };
  const io = {
    asJson: true,
    out: () => {},
    json: () => {},
    ask: async () => undefined,
    withProgress: <T>(_: string, run: () => Promise<T>) => run(),
  };

  it("unconfirmed, with no terminal to ask on: refused, and only the listing ran on the node", async () => {
    const { t, sent } = fakeTarget(() => ({ stdout: JSON.stringify(listing) }));
    await expect(dbCommand(t, ["restore", "postgres", "wiki", "latest"], {}, io)).rejects.toThrow(
      /not confirmed and no terminal .*nothing was changed \(pass --yes\)/,
    );
    expect(sent.map((r) => r.script)).toEqual([
      "docker exec 'postgres-1' perl control.pl 'dumps' 'wiki' '--limit' '120'",
    ]);
  });

  it("a wrong answer changes nothing; --yes restores the chosen dump with one request id", async () => {
    const { t, sent } = fakeTarget((req) => ({
      stdout: req.script.includes("'restore'")
        ? JSON.stringify({
            database: "wiki",
            key: listing.dumps[0]!.key,
            aside: "wiki__before_x",
            bytes: 9,
            ms: 5,
            already: false,
          })
        : JSON.stringify(listing),
    }));
    expect(
      await dbCommand(t, ["restore", "postgres", "wiki", "latest"], {}, { ...io, ask: async () => "nope" }),
    ).toBe(1);
    expect(sent.some((r) => r.script.includes("'restore'"))).toBe(false);
    expect(
      await dbCommand(t, ["restore", "postgres", "wiki", "2026-11-26T20-00-01-234Z"], { yes: true }, io),
    ).toBe(0);
    const restore = sent.filter((r) => r.script.includes("'restore'"));
    expect(restore).toHaveLength(1);
    expect(restore[0]!.script).toMatch(
      /^docker exec 'postgres-1' perl control\.pl 'restore' 'wiki' 'db-dumps\/dev\/postgres\/wiki\/2026-11-26T20-00-01-234Z\.dump' '--id' 'r-[0-9a-f]{16}'$/,
    );
    expect(restore[0]!.instanceIds).toEqual(["i-a"]);
  });

  it("a dump the listing does not offer is not found, and nothing is restored", async () => {
    const { t, sent } = fakeTarget(() => ({ stdout: JSON.stringify(listing) }));
    await expect(
      dbCommand(t, ["restore", "postgres", "wiki", "2026-11-25T00-00-00-000Z"], { yes: true }, io),
    ).rejects.toThrow(/has no valid dump .*nothing was changed/);
    expect(sent.some((r) => r.script.includes("'restore'"))).toBe(false);
  });
});
