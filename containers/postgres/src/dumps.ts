// Logical dumps of each client database to the snapshot bucket: pg_dump's custom format streamed
// into an S3 multipart upload (lib-storage: parts, retries and the abort on failure, which we would
// otherwise write), encrypted by the bucket's default (the cluster key). A dump is valid only once
// its manifest exists, written after pg_dump exited 0 and the upload completed: an object without
// one is a failed dump, never restored, and expires with the prefix's lifecycle rule.
import { createHash } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { PassThrough } from "node:stream";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { manifestKey, type DumpManifest } from "../../../functions/domain/databaseDumps.ts";

export { dumpKey, manifestKey, type DumpManifest } from "../../../functions/domain/databaseDumps.ts";

/** Stream one database's dump (`start()` spawns pg_dump writing to stdout) to S3, then its manifest. */
export async function dumpDatabase(opts: {
  s3: S3Client;
  bucket: string;
  key: string;
  database: string;
  start: () => ChildProcess;
}): Promise<DumpManifest> {
  const startedAt = new Date().toISOString();
  const child = opts.start();
  const hash = createHash("sha256");
  let bytes = 0;
  let stderr = "";
  const body = new PassThrough();
  child.stdout!.on("data", (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
  });
  child.stdout!.pipe(body);
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
  const upload = new Upload({
    client: opts.s3,
    params: { Bucket: opts.bucket, Key: opts.key, Body: body, ContentType: "application/octet-stream" },
  });
  // Read while pg_dump writes (a full pipe would stop it); a failed upload stops pg_dump.
  const uploaded = upload.done();
  uploaded.catch(() => child.kill("SIGTERM"));
  const code = await exited;
  if (code !== 0) {
    // lib-storage aborts the multipart upload when its body fails.
    body.destroy(new Error("pg_dump failed"));
    await uploaded.catch(() => {});
    throw new Error(`pg_dump of ${opts.database} exited ${code}: ${stderr.trim().slice(-1000)}`);
  }
  await uploaded;
  const manifest: DumpManifest = {
    database: opts.database,
    key: opts.key,
    bytes,
    sha256: hash.digest("hex"),
    startedAt,
    finishedAt: new Date().toISOString(),
    format: "pg_dump custom",
  };
  await opts.s3.send(
    new PutObjectCommand({
      Bucket: opts.bucket,
      Key: manifestKey(opts.key),
      Body: JSON.stringify(manifest),
      ContentType: "application/json",
    }),
  );
  return manifest;
}
