// An in-memory snapshot bucket (the SnapshotStore port), for operation tests.
// test/integration/contracts/snapshots.test.ts runs the same suite against it and S3 in moto.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { NotFoundError, RefusedError, formatIssues } from "../../functions/domain/errors.ts";
import {
  ManifestSchema,
  clusterPrefix,
  dataPrefix,
  manifestKey,
  manifestPrefix,
  type ObservedSnapshot,
  type SnapshotLayout,
} from "../../functions/domain/snapshots.ts";
import type { SnapshotStore } from "../../functions/ports/snapshots.ts";

interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
}

export class FakeSnapshotStore implements SnapshotStore {
  readonly objects = new Map<string, StoredObject>();
  constructor(
    readonly layout: SnapshotLayout,
    readonly bucket = "fake-snapshots",
    private readonly now: () => Date = () => new Date(),
  ) {}

  private write(key: string, body: Buffer) {
    // A single-part upload's ETag is the MD5 of its bytes, quoted, as S3 returns it.
    const etag = `"${createHash("md5").update(body).digest("hex")}"`;
    this.objects.set(key, { body, etag, lastModified: this.now() });
    return etag;
  }

  async uploadData(key: string, body: Readable) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c as Buffer));
    return { etag: this.write(key, Buffer.concat(chunks)) };
  }

  async putManifest(m: Parameters<SnapshotStore["putManifest"]>[0]) {
    const key = manifestKey(this.layout, m.id);
    if (this.objects.has(key)) throw new RefusedError(`manifest ${key} exists`);
    this.write(key, Buffer.from(JSON.stringify(m, null, 2)));
  }

  async list(): Promise<ObservedSnapshot[]> {
    const byId = new Map<string, ObservedSnapshot>();
    const get = (id: string) => byId.get(id) ?? (byId.set(id, { id }), byId.get(id)!);
    const [data, manifests] = [dataPrefix(this.layout), manifestPrefix(this.layout)];
    for (const [key, o] of this.objects) {
      if (key.startsWith(data) && key.endsWith(".db")) {
        get(key.slice(data.length, -3)).data = {
          size: o.body.length,
          etag: o.etag,
          lastModified: o.lastModified,
        };
      } else if (key.startsWith(manifests) && key.endsWith(".json")) {
        const s = get(key.slice(manifests.length, -5));
        s.manifestLastModified = o.lastModified;
        try {
          const parsed = ManifestSchema.safeParse(JSON.parse(o.body.toString()));
          if (parsed.success) s.manifest = parsed.data;
          else s.invalid = `manifest does not parse: ${formatIssues(parsed.error.issues).join("; ")}`;
        } catch (e) {
          s.invalid = `manifest unreadable: ${e instanceof Error ? e.message : String(e)}`;
        }
      }
    }
    return [...byId.values()];
  }

  async download(key: string): Promise<Readable> {
    const o = this.objects.get(key);
    if (!o) throw new NotFoundError(`no object ${key}`);
    return Readable.from([o.body]);
  }

  async deleteKeys(keys: string[]) {
    const manifests = manifestPrefix(this.layout);
    for (const k of [
      ...keys.filter((k) => k.startsWith(manifests)),
      ...keys.filter((k) => !k.startsWith(manifests)),
    ])
      this.objects.delete(k);
  }

  private lockKey = (name: string) => `${clusterPrefix(this.layout)}locks/${name}.json`;

  async tryLock(name: string, owner: string, staleMs: number): Promise<boolean> {
    const held = this.objects.get(this.lockKey(name));
    if (held) {
      const { at } = JSON.parse(held.body.toString()) as { at: string };
      if (Date.now() - Date.parse(at) < staleMs) return false;
    }
    this.write(this.lockKey(name), Buffer.from(JSON.stringify({ owner, at: new Date().toISOString() })));
    return true;
  }

  async unlock(name: string, owner: string) {
    const held = this.objects.get(this.lockKey(name));
    if (held && (JSON.parse(held.body.toString()) as { owner: string }).owner === owner)
      this.objects.delete(this.lockKey(name));
  }
}
