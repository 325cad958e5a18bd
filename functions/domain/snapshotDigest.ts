// Checksums of a snapshot computed while it streams by (no buffering of the snapshot itself).
import { InvariantError } from "./errors.ts";
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

const TRAILER = 32;

/**
 * Two digests over one pass:
 * - `sha256`: SHA-256 of every byte (what the manifest records and restore verifies);
 * - etcd's own trailer: the maintenance Snapshot stream ends with the SHA-256 of the database that
 *   precedes it (`etcdctl snapshot restore` checks it). Holding back the last 32 bytes lets us check it
 *   on the way, so a stream cut short, even one that "ends" cleanly, is recognised as incomplete.
 */
export class SnapshotDigest {
  private readonly whole: Hash = createHash("sha256");
  private readonly db: Hash = createHash("sha256");
  private tail: Buffer = Buffer.alloc(0);
  size = 0;

  update(chunk: Buffer): void {
    this.whole.update(chunk);
    this.size += chunk.length;
    if (this.tail.length + chunk.length <= TRAILER) {
      this.tail = Buffer.concat([this.tail, chunk]);
      return;
    }
    // No copy of the chunk itself (it streams by at tens of MB/s): hash what leaves the held-back
    // tail, then all but the chunk's last 32 bytes, and keep those.
    if (chunk.length >= TRAILER) {
      if (this.tail.length) this.db.update(this.tail);
      this.db.update(chunk.subarray(0, chunk.length - TRAILER));
      this.tail = Buffer.from(chunk.subarray(chunk.length - TRAILER));
    } else {
      const joined = Buffer.concat([this.tail, chunk]); // at most 63 bytes
      this.db.update(joined.subarray(0, joined.length - TRAILER));
      this.tail = joined.subarray(joined.length - TRAILER);
    }
  }

  /** Finish: the whole-object digest, and whether the stream carries a valid etcd trailer. */
  finish(): { sha256: string; size: number; etcdTrailerOk: boolean } {
    const dbDigest = this.db.digest();
    return {
      sha256: this.whole.digest("hex"),
      size: this.size,
      etcdTrailerOk: this.size > TRAILER && this.tail.length === TRAILER && dbDigest.equals(this.tail),
    };
  }
}

export type DigestResult = ReturnType<SnapshotDigest["finish"]>;

/** The etcd trailer is missing or wrong: the stream was cut short or altered. */
export class IncompleteSnapshotError extends Error {
  constructor(size: number) {
    super(`snapshot stream incomplete or altered: ${size} bytes without a valid etcd checksum trailer`);
    this.name = "IncompleteSnapshotError";
  }
}

/**
 * A pass-through stream that feeds a SnapshotDigest. With `requireEtcdTrailer`, a stream without a
 * valid etcd trailer errors at its end instead of ending, so whatever consumes it (an S3 upload)
 * fails rather than complete an object. `result()` is available once the stream has ended.
 */
export function digestingStream(opts: { requireEtcdTrailer?: boolean } = {}) {
  const digest = new SnapshotDigest();
  let out: DigestResult | undefined;
  const stream = new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      digest.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      out = digest.finish();
      if (opts.requireEtcdTrailer && !out.etcdTrailerOk) cb(new IncompleteSnapshotError(out.size));
      else cb();
    },
  });
  return {
    stream,
    result(): DigestResult {
      if (!out) throw new InvariantError("digest read before the stream ended");
      return out;
    },
  };
}
