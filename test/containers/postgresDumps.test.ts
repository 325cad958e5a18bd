// The database dump's transfer, against moto over HTTP with real child processes standing in for
// pg_dump and pg_restore (the bytes are what matters here; postgres.test.ts runs the real tools):
// the dump's S3 client sends no per-request checksums, so the manifest's SHA-256 is what catches a
// corrupted byte; a failed pg_dump or upload leaves no object and no open multipart upload.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { dumpDatabase, dumpKey, dumpS3Client } from "../../containers/postgres/src/dumps.ts";
import { listDumps, restoreDatabase, type Pg } from "../../containers/postgres/src/restore.ts";
import { dumpPrefix } from "../../functions/domain/databaseDumps.ts";
import { RefusedError } from "../../functions/domain/errors.ts";
import { useRig } from "../rig/index.ts";

const rig = useRig({ moto: true });
const PREFIX = dumpPrefix("dumptest", "postgres");
let bucket = "";
let admin: S3Client;

interface HttpRequest {
  method: string;
  query?: Record<string, unknown>;
  headers: Record<string, string>;
  body?: unknown;
}

/** A stand-in for pg_dump: writes `bytes` of a deterministic pattern to stdout, then exits `code`. */
const writer =
  (bytes: number, code = 0) =>
  () =>
    spawn(
      "sh",
      ["-c", `head -c ${bytes} /dev/zero | tr '\\000' 'd'; printf 'end'; echo failed >&2; exit ${code}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
const expected = (bytes: number) => Buffer.concat([Buffer.alloc(bytes, "d"), Buffer.from("end")]);

async function objectBytes(key: string): Promise<Buffer> {
  const r = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}
const keysUnder = async (prefix: string) =>
  ((await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map(
    (o) => o.Key!,
  );
const openUploads = async () =>
  (await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];

/** The dump's client with a hook on every request as sent (after signing): what moto receives. */
function dumpClientSeeing(onRequest: (r: HttpRequest) => void): S3Client {
  const client = dumpS3Client(true);
  client.middlewareStack.add(
    (next) => (args) => {
      onRequest(args.request as HttpRequest);
      return next(args);
    },
    { step: "deserialize", priority: "low", name: "seeRequest" },
  );
  return client;
}

beforeAll(async () => {
  admin = new S3Client({
    endpoint: rig.moto!.endpoint,
    region: "eu-west-1",
    forcePathStyle: true,
    credentials: rig.moto!.admin,
  });
  bucket = rig.unique("dumps").toLowerCase();
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
});

describe("the database dump's transfer", () => {
  it("streams a dump of several parts whole, hashed in the manifest, with no per-request checksum", async () => {
    const headers: Record<string, string>[] = [];
    const s3 = dumpClientSeeing((r) => {
      if (r.query?.partNumber) headers.push({ ...r.headers });
    });
    const size = 12 * 1024 * 1024; // three parts of 5 MiB: two full, one short
    const key = dumpKey(PREFIX, "wiki", new Date());
    const m = await dumpDatabase({ s3, bucket, key, database: "wiki", start: writer(size) });
    const want = expected(size);
    expect(headers.length).toBe(3);
    for (const h of headers) {
      expect(Object.keys(h).filter((k) => /checksum/i.test(k))).toEqual([]);
    }
    expect(m.bytes).toBe(want.length);
    expect(m.sha256).toBe(createHash("sha256").update(want).digest("hex"));
    expect((await objectBytes(key)).equals(want)).toBe(true);
    expect(JSON.parse((await objectBytes(`${key}.manifest.json`)).toString())).toEqual(m);
  });

  it("a byte corrupted on the way is not caught by S3 but by the manifest: the restore refuses it and changes nothing", async () => {
    let corrupted = 0;
    const s3 = dumpClientSeeing((r) => {
      // One byte of the second part flipped after signing, as a faulty link or disk would.
      if (r.query?.partNumber === "2" && r.body instanceof Uint8Array) {
        const body = Buffer.from(r.body);
        body[1000] = body[1000]! ^ 0xff;
        r.body = body;
        corrupted++;
      }
    });
    const size = 11 * 1024 * 1024;
    const key = dumpKey(PREFIX, "wiki", new Date(Date.now() + 1000));
    const m = await dumpDatabase({ s3, bucket, key, database: "wiki", start: writer(size) });
    expect(corrupted).toBe(1);
    const stored = await objectBytes(key);
    expect(stored.length).toBe(m.bytes);
    expect(createHash("sha256").update(stored).digest("hex")).not.toBe(m.sha256);

    const scripts: string[] = [];
    let restored = 0;
    const pg: Pg = {
      sql: (script) => {
        scripts.push(script);
        return Promise.resolve(
          script.startsWith("SELECT json_build_object")
            ? JSON.stringify({ exists: true, role: true, comment: null })
            : "",
        );
      },
      restore: () => {
        restored++;
        // pg_restore's stand-in reads everything and succeeds: only the hash can refuse the dump.
        return spawn("sh", ["-c", "cat >/dev/null"], { stdio: ["pipe", "ignore", "pipe"] });
      },
      dump: () => {
        throw new Error("not used");
      },
    };
    const restore = restoreDatabase({
      s3: dumpS3Client(true),
      bucket,
      prefix: PREFIX,
      database: "wiki",
      key,
      id: "corrupt-1",
      pg,
      now: new Date(),
    });
    await expect(restore).rejects.toThrow(RefusedError);
    await expect(restore).rejects.toThrow(
      /does not match its manifest .*corrupt or changed; nothing was changed/,
    );
    expect(restored).toBe(1);
    // The fresh database was dropped, and the current one never renamed.
    expect(scripts.some((s) => /RENAME/.test(s))).toBe(false);
    expect(scripts.at(-1)).toMatch(/^DROP DATABASE IF EXISTS "wiki__restoring/);
  });

  it("a pg_dump that fails after several parts leaves no object, no manifest and no open upload", async () => {
    const key = dumpKey(PREFIX, "failing", new Date());
    await expect(
      dumpDatabase({ s3: dumpS3Client(true), bucket, key, database: "failing", start: writer(12 << 20, 1) }),
    ).rejects.toThrow(/pg_dump of failing exited 1: failed/);
    expect(await keysUnder(`${PREFIX}failing/`)).toEqual([]);
    expect((await openUploads()).filter((u) => u.Key === key)).toEqual([]);
  });

  it("a completion that fails leaves no dump: nothing listed, the upload aborted", async () => {
    let broken = 0;
    const s3 = dumpClientSeeing((r) => {
      // The completion names a part that was never sent: S3 refuses it (InvalidPart).
      if (r.method === "POST" && r.query?.uploadId && typeof r.body === "string") {
        r.body = r.body.replace(/<PartNumber>2<\/PartNumber>/, "<PartNumber>9</PartNumber>");
        broken++;
      }
    });
    const key = dumpKey(PREFIX, "incomplete", new Date());
    await expect(
      dumpDatabase({ s3, bucket, key, database: "incomplete", start: writer(11 << 20) }),
    ).rejects.toThrow(/part/i);
    expect(broken).toBe(1);
    // No object; whatever manifest was written beside the completion describes nothing listed.
    expect((await keysUnder(`${PREFIX}incomplete/`)).filter((k) => k.endsWith(".dump"))).toEqual([]);
    const listed = await listDumps({ s3: admin, bucket, prefix: PREFIX, database: "incomplete", limit: 10 });
    expect(listed).toEqual({ dumps: [], partial: 0, more: 0 });
    expect((await openUploads()).filter((u) => u.Key === key)).toEqual([]);
  });

  it("a failed upload stops pg_dump and is reported", async () => {
    let pid = 0;
    const endless = () => {
      const c = spawn("sh", ["-c", "exec cat /dev/zero"], { stdio: ["ignore", "pipe", "pipe"] });
      pid = c.pid!;
      return c;
    };
    await expect(
      dumpDatabase({
        s3: dumpS3Client(true),
        bucket: `${bucket}-missing`,
        key: dumpKey(PREFIX, "wiki", new Date()),
        database: "wiki",
        start: endless,
      }),
    ).rejects.toThrow(/bucket/i);
    // dumpDatabase resolves only after the child closed: it no longer runs.
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
