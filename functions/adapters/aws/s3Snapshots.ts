// The snapshot store in S3: streamed multipart upload of the data, the manifest, listing with the
// validity check, streamed download, and deletion in a safe order.
import { DevclusterError, formatIssues } from "../../domain/errors.ts";
import type { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { pooledUpload } from "./s3PooledUpload.ts";
import {
  ManifestSchema,
  clusterPrefix,
  dataPrefix,
  manifestKey,
  manifestPrefix,
  type ObservedSnapshot,
  type SnapshotLayout,
} from "../../domain/snapshots.ts";
import type { SnapshotStore, UploadTuning } from "../../ports/snapshots.ts";

/** 5 MiB (the S3 minimum) x 3 buffers, reused: 15 MiB, measured as fast as larger parts here. */
export const DEFAULT_UPLOAD_TUNING: UploadTuning = { partSize: 5 * 1024 * 1024, queueSize: 3 };

const isPreconditionFailed = (e: unknown) =>
  e instanceof Error &&
  (e.name === "PreconditionFailed" ||
    (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412);

export function s3SnapshotStore(s3: S3Client, bucket: string, layout: SnapshotLayout): SnapshotStore {
  const lockKey = (name: string) => `${clusterPrefix(layout)}locks/${name}.json`;
  const readLock = async (name: string) => {
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: lockKey(name) }));
      return JSON.parse(await res.Body!.transformToString()) as { owner: string; at: string };
    } catch (e) {
      if (e instanceof Error && (e.name === "NoSuchKey" || e.name === "NotFound")) return undefined;
      throw e;
    }
  };
  return {
    layout,
    bucket,

    async uploadData(key, body, tuning = DEFAULT_UPLOAD_TUNING) {
      // Not lib-storage's Upload: it allocates a new buffer per part and, measured on a 132 MB
      // snapshot, the process grew ~100 MB; the pooled upload reuses `queueSize` part buffers.
      // A failed upload aborts its multipart upload: nothing is left to list.
      return pooledUpload(
        s3,
        { Bucket: bucket, Key: key, ContentType: "application/octet-stream" },
        body,
        tuning,
      );
    },

    async putManifest(m) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: manifestKey(layout, m.id),
          Body: JSON.stringify(m, null, 2),
          ContentType: "application/json",
          IfNoneMatch: "*",
        }),
      );
    },

    async list() {
      const byId = new Map<string, ObservedSnapshot>();
      const get = (id: string) => byId.get(id) ?? (byId.set(id, { id }), byId.get(id)!);
      const manifests: { id: string; key: string }[] = [];
      let token: string | undefined;
      do {
        const res = await s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: clusterPrefix(layout),
            ContinuationToken: token,
          }),
        );
        for (const o of res.Contents ?? []) {
          const key = o.Key ?? "";
          if (key.startsWith(dataPrefix(layout)) && key.endsWith(".db")) {
            const id = key.slice(dataPrefix(layout).length, -3);
            get(id).data = {
              size: o.Size ?? 0,
              etag: o.ETag ?? "",
              lastModified: o.LastModified ?? new Date(0),
            };
          } else if (key.startsWith(manifestPrefix(layout)) && key.endsWith(".json")) {
            const id = key.slice(manifestPrefix(layout).length, -5);
            get(id).manifestLastModified = o.LastModified ?? new Date(0);
            manifests.push({ id, key });
          }
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      await mapLimit(manifests, 8, async ({ id, key }) => {
        const o = get(id);
        try {
          const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          const parsed = ManifestSchema.safeParse(JSON.parse(await res.Body!.transformToString()));
          if (parsed.success) o.manifest = parsed.data;
          else o.invalid = `manifest does not parse: ${formatIssues(parsed.error.issues).join("; ")}`;
        } catch (e) {
          o.invalid = `manifest unreadable: ${e instanceof Error ? e.message : String(e)}`;
        }
      });
      return [...byId.values()];
    },

    async download(key) {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return res.Body as Readable;
    },

    async tryLock(name, owner, staleMs) {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: lockKey(name),
              Body: JSON.stringify({ owner, at: new Date().toISOString() }),
              IfNoneMatch: "*",
            }),
          );
          return true;
        } catch (e) {
          if (!isPreconditionFailed(e)) throw e;
        }
        const held = await readLock(name);
        if (held && Date.now() - Date.parse(held.at) < staleMs) return false;
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lockKey(name) }));
      }
      return false;
    },

    async unlock(name, owner) {
      const held = await readLock(name);
      if (held?.owner === owner)
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lockKey(name) }));
    },

    async deleteKeys(keys) {
      const manifestsFirst = [
        keys.filter((k) => k.startsWith(manifestPrefix(layout))),
        keys.filter((k) => !k.startsWith(manifestPrefix(layout))),
      ];
      for (const batch of manifestsFirst) {
        for (let i = 0; i < batch.length; i += 1000) {
          const part = batch.slice(i, i + 1000);
          if (!part.length) continue;
          const res = await s3.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: part.map((Key) => ({ Key })), Quiet: true },
            }),
          );
          if (res.Errors?.length) {
            throw new DevclusterError(
              `could not delete ${res.Errors.map((e) => `${e.Key}: ${e.Code}`).join(", ")}`,
            );
          }
        }
      }
    },
  };
}

async function mapLimit<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
