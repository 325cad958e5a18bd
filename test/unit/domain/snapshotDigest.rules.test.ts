// The streaming digest's rules at their edges: a stream of nothing but a trailer, the error a
// consumer sees, and results read only once the stream has ended.
import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  digestingStream,
  IncompleteSnapshotError,
  SnapshotDigest,
} from "../../../functions/domain/snapshotDigest.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest();
const withTrailer = (db: Buffer) => Buffer.concat([db, sha(db)]);

describe("the etcd trailer", () => {
  it("is not accepted on its own: 32 bytes that are the digest of an empty database are no snapshot", () => {
    const d = new SnapshotDigest();
    d.update(withTrailer(Buffer.alloc(0)));
    expect(d.finish()).toMatchObject({ size: 32, etcdTrailerOk: false });
  });

  it("is accepted after a one-byte database", () => {
    const d = new SnapshotDigest();
    d.update(withTrailer(Buffer.from([42])));
    expect(d.finish()).toMatchObject({ size: 33, etcdTrailerOk: true });
  });

  it("is checked the same whatever the chunking, and any altered byte is seen (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 20 }),
        fc.option(fc.nat(), { nil: undefined }),
        (db, sizes, flip) => {
          const bytes = withTrailer(Buffer.from(db));
          if (flip !== undefined) bytes[flip % bytes.length]! ^= 1;
          const d = new SnapshotDigest();
          for (let i = 0, k = 0; i < bytes.length; k++) {
            const n = sizes[k % sizes.length]!;
            d.update(bytes.subarray(i, i + n));
            i += n;
          }
          expect(d.finish()).toEqual({
            sha256: sha(bytes).toString("hex"),
            size: bytes.length,
            etcdTrailerOk: flip === undefined,
          });
        },
      ),
    );
  });
});

describe("the digesting stream", () => {
  it("fails with IncompleteSnapshotError, naming the size, when the trailer is wrong", async () => {
    const { stream } = digestingStream({ requireEtcdTrailer: true });
    const err = await pipeline(
      Readable.from([Buffer.alloc(100, 1)]),
      stream,
      new Writable({ write: (_c, _e, cb) => cb() }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncompleteSnapshotError);
    expect(err).toMatchObject({
      name: "IncompleteSnapshotError",
      message: "snapshot stream incomplete or altered: 100 bytes without a valid etcd checksum trailer",
    });
  });

  it("without the requirement, ends and reports the trailer as missing", async () => {
    const d = digestingStream();
    await pipeline(
      Readable.from([Buffer.alloc(100, 1)]),
      d.stream,
      new Writable({ write: (_c, _e, cb) => cb() }),
    );
    expect(d.result()).toMatchObject({ size: 100, etcdTrailerOk: false });
  });

  it("refuses to give a result before the stream has ended", () => {
    const d = digestingStream();
    d.stream.write(Buffer.alloc(10));
    expect(() => d.result()).toThrow("digest read before the stream ended");
  });

  it("buffers up to 1 MiB each way, so an upload reads in large parts", () => {
    const { stream } = digestingStream();
    expect(stream.readableHighWaterMark).toBe(1024 * 1024);
    expect(stream.writableHighWaterMark).toBe(1024 * 1024);
  });
});
