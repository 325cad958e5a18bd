// What makes a database dump fit to restore: its key, its manifest, the listing that pairs them,
// and the names a restore uses.
import { describe, expect, it } from "vitest";
import {
  checkDumpKey,
  checkManifest,
  dumpKey,
  dumpPrefix,
  manifestKey,
  pairDumps,
  restoreNames,
} from "../../../functions/domain/databaseDumps.ts";
import { RefusedError } from "../../../functions/domain/errors.ts";

const prefix = dumpPrefix("dev", "postgres");
const at = new Date("2026-11-26T20:00:01.234Z");
const key = dumpKey(prefix, "wiki", at);
const manifest = {
  database: "wiki",
  key,
  bytes: 10,
  sha256: "a".repeat(64),
  startedAt: at.toISOString(),
  finishedAt: at.toISOString(),
  format: "pg_dump custom",
};

describe("dump keys", () => {
  it("names a dump by service, database and start time, its manifest beside it", () => {
    expect(key).toBe("db-dumps/dev/postgres/wiki/2026-11-26T20-00-01-234Z.dump");
    expect(manifestKey(key)).toBe(`${key}.manifest.json`);
    expect(() => checkDumpKey(prefix, "wiki", key)).not.toThrow();
  });

  it("refuses another service's, another cluster's or another database's dump, and what is no dump key", () => {
    const cases: [string, RegExp][] = [
      [dumpKey(dumpPrefix("dev", "other"), "wiki", at), /is not a dump of this service/],
      [dumpKey(dumpPrefix("prod", "postgres"), "wiki", at), /is not a dump of this service/],
      [dumpKey(prefix, "build_bot", at), /is a dump of database build_bot, not of wiki/],
      [`${prefix}wiki/notes.txt`, /is not a dump key/],
      [`${prefix}wiki/2026-11-26.dump`, /is not a dump key/],
      [`${prefix}wiki/x/2026-11-26T20-00-01-234Z.dump`, /is not a dump key/],
      [`${prefix}../postgres/wiki/2026-11-26T20-00-01-234Z.dump`, /is not a dump key|not of wiki/],
    ];
    for (const [k, why] of cases) {
      expect(() => checkDumpKey(prefix, "wiki", k), k).toThrow(RefusedError);
      expect(() => checkDumpKey(prefix, "wiki", k), k).toThrow(why);
    }
  });
});

describe("manifests", () => {
  it("accepts the manifest that describes this object of this database", () => {
    expect(checkManifest(JSON.stringify(manifest), key, "wiki")).toEqual(manifest);
  });

  it("refuses a manifest of another object or database, and what is no manifest", () => {
    const other = dumpKey(prefix, "wiki", new Date("2026-11-25T00:00:00.000Z"));
    expect(() => checkManifest(JSON.stringify(manifest), other, "wiki")).toThrow(/a copied or foreign dump/);
    expect(() => checkManifest(JSON.stringify({ ...manifest, database: "x" }), key, "wiki")).toThrow(
      /a copied or foreign dump/,
    );
    for (const bad of [
      "{",
      "null",
      JSON.stringify({ ...manifest, sha256: "xyz" }),
      JSON.stringify({ ...manifest, bytes: -1 }),
    ])
      expect(() => checkManifest(bad, key, "wiki"), bad).toThrow(/is not a dump manifest/);
  });
});

describe("listing", () => {
  it("offers each dump with a manifest, newest first; counts those without one; ignores other keys", () => {
    const old = dumpKey(prefix, "wiki", new Date("2026-11-20T00:00:00.000Z"));
    const bot = dumpKey(prefix, "build_bot", new Date("2026-11-22T00:00:00.000Z"));
    const failed = dumpKey(prefix, "wiki", new Date("2026-11-23T00:00:00.000Z"));
    const keys = [
      old,
      manifestKey(old),
      key,
      manifestKey(key),
      bot,
      manifestKey(bot),
      failed,
      `${prefix}wiki/junk`,
    ];
    expect(pairDumps(prefix, keys)).toEqual({
      dumps: [
        { database: "wiki", key },
        { database: "build_bot", key: bot },
        { database: "wiki", key: old },
      ],
      partial: 1,
    });
  });
});

describe("restore names", () => {
  it("a fresh database beside the current one, and an aside name stamped with the time", () => {
    expect(restoreNames("build_bot", at)).toEqual({
      staging: "build_bot__restoring",
      aside: "build_bot__before_20261126T200001234Z",
    });
  });

  it("refuses names Postgres would cut, and what is no database name", () => {
    expect(() => restoreNames("a".repeat(37), at)).toThrow(/63 characters/);
    for (const bad of ["Wiki", 'a"b', "", "a-b"])
      expect(() => restoreNames(bad, at), bad).toThrow(RefusedError);
  });
});
