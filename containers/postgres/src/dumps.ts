// Logical dumps of each client database to the snapshot bucket: pg_dump's custom format streamed
// into an S3 multipart upload, encrypted by the bucket's default (the cluster key). A dump is valid
// only once both its object and its manifest exist: the object is made only after pg_dump exited 0
// and every part was sent; an object without a manifest is a failed dump, never restored, and
// expires with the prefix's lifecycle rule.
import { createHash } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { pooledUpload } from "../../../functions/adapters/aws/s3PooledUpload.ts";
import { manifestKey, type DumpManifest } from "../../../functions/domain/databaseDumps.ts";

export { dumpKey, manifestKey, type DumpManifest } from "../../../functions/domain/databaseDumps.ts";

/**
 * The S3 client of dumps and restores. No CRC32 per request, none checked on download: every
 * byte is covered end to end by the SHA-256 of what pg_dump wrote, kept in the manifest and checked
 * by every restore before the restored database takes the name (ARCHITECTURE decision 69).
 */
export function dumpS3Client(forcePathStyle: boolean): S3Client {
  return new S3Client({
    maxAttempts: 5,
    forcePathStyle,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** 5 MiB parts (the S3 minimum: the smallest last part, so the shortest wait after pg_dump exits), 4 reused buffers. */
export const DUMP_UPLOAD = { partSize: 5 * 1024 * 1024, queueSize: 4 };

/** Stream one database's dump (`start()` spawns pg_dump writing to stdout) to S3, then its manifest. */
export async function dumpDatabase(opts: {
  s3: S3Client;
  bucket: string;
  key: string;
  database: string;
  start: () => ChildProcess;
  upload?: { partSize: number; queueSize: number };
}): Promise<DumpManifest> {
  const startedAt = new Date().toISOString();
  const child = opts.start();
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
  exited.catch(() => {});
  const hash = createHash("sha256");
  let bytes = 0;
  // The body hashes each chunk as it passes and ends only once pg_dump exited 0: a failed pg_dump
  // makes the upload throw, which aborts the multipart upload (nothing is completed).
  async function* body(): AsyncGenerator<Buffer> {
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
    const code = await exited;
    if (code !== 0)
      throw new Error(`pg_dump of ${opts.database} exited ${code}: ${stderr.trim().slice(-1000)}`);
  }
  let manifest: DumpManifest | undefined;
  // The manifest is written beside the upload's completion, not after it: a dump is listed (and
  // restored) only when both its object and its manifest exist, and the object exists only once
  // the completion succeeded, after pg_dump exited 0 (ARCHITECTURE decision 69).
  const writeManifest = async () => {
    const m: DumpManifest = {
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
        Body: JSON.stringify(m),
        ContentType: "application/json",
      }),
    );
    manifest = m;
  };
  try {
    await pooledUpload(
      opts.s3,
      { Bucket: opts.bucket, Key: opts.key, ContentType: "application/octet-stream" },
      body(),
      { ...(opts.upload ?? DUMP_UPLOAD), beside: writeManifest },
    );
  } catch (e) {
    // A failed upload stops pg_dump, which would otherwise wait on a full pipe.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited.catch(() => {});
    // A manifest written beside a completion that failed stays (the node role deletes nothing)
    // but describes no object: it is never listed, a restore of its key finds no dump, and it
    // expires with the prefix.
    throw e;
  }
  return manifest!;
}
