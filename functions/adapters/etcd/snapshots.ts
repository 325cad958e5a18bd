// What snapshot and restore need from etcd: member probes and small queries over the v3 JSON gateway
// (one HTTP request each, with a hard time limit) on a plain member, over gRPC on one serving TLS
// (etcd's gateway refuses a client certificate with a CN: "CommonName of client sending a request
// against gateway will be ignored", so with client-certificate authentication only gRPC carries the
// control plane's identity; /health is not behind the gateway and stays HTTP), and the maintenance
// Snapshot stream over gRPC.
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { Etcd3 } from "etcd3";
import type { EtcdSnapshotApi } from "../../ports/snapshots.ts";
import { DevclusterError } from "../../domain/errors.ts";
import { etcdHttp } from "./http.ts";
import { grpcTlsOptions, lazyHttpsAgent, tlsResolver, type EtcdTlsSource } from "./tls.ts";

interface StatusJson {
  header: { cluster_id: string; member_id: string; revision?: string };
  dbSize?: string;
  leader?: string;
  isLearner?: boolean;
  raftIndex?: string;
  raftTerm?: string;
  raftAppliedIndex?: string;
}
interface MemberListJson {
  members?: { ID: string; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean }[];
}

const b64 = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s) : s).toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString();
/** The end of the range of every key starting with `prefix` (etcd's prefix rule). */
function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) return Buffer.from(b.subarray(0, i + 1).map((x, j) => (j === i ? x + 1 : x)));
  }
  return Buffer.from([0]);
}

const SNAPSHOT_WINDOW = 4 * 1024 * 1024;

const ALL_KEYS = Buffer.from([0]).toString("base64");

/** `tls`: the control plane's certificate, for members that serve https (none: plain http only). */
export function createEtcdSnapshotApi(source?: EtcdTlsSource): EtcdSnapshotApi {
  const { request, post, healthy } = etcdHttp(lazyHttpsAgent(source).get);
  const tls = tlsResolver(source);
  const secure = (endpoint: string) => endpoint.startsWith("https:");
  /** The gRPC credentials for this member: its certificate over https (refused without one), none on http. */
  async function credentials(endpoint: string) {
    const cert = await tls.forUrls([endpoint]);
    if (secure(endpoint) && !cert)
      throw new DevclusterError(`etcd ${endpoint}: https needs the control plane's certificate`);
    return grpcTlsOptions(cert);
  }
  /** One call on a gRPC client of exactly this member with the certificate, closed after it. */
  async function overGrpc<T>(endpoint: string, call: (c: Etcd3) => Promise<T>): Promise<T> {
    const client = new Etcd3({
      hosts: [endpoint],
      dialTimeout: 3000,
      ...(await credentials(endpoint)),
    });
    try {
      return await call(client);
    } finally {
      client.close();
    }
  }
  const within = (ms: number) => ({ deadline: Date.now() + ms });
  return {
    async status(endpoint, timeoutMs = 2000) {
      try {
        const s: StatusJson = secure(endpoint)
          ? await overGrpc(endpoint, (c) => c.maintenance.status(within(timeoutMs)))
          : await post<StatusJson>(endpoint, "/v3/maintenance/status", {}, timeoutMs);
        return {
          endpoint,
          clusterId: s.header.cluster_id,
          memberId: s.header.member_id,
          leader: s.leader ?? "0",
          revision: Number(s.header.revision ?? 0),
          dbSize: Number(s.dbSize ?? 0),
          isLearner: s.isLearner ?? false,
          appliedIndex: Number(s.raftAppliedIndex ?? 0),
          committedIndex: Number(s.raftIndex ?? 0),
          term: Number(s.raftTerm ?? 0),
        };
      } catch {
        return undefined;
      }
    },

    healthy: (endpoint, timeoutMs = 2000) => healthy(endpoint, timeoutMs),

    async alive(endpoint, timeoutMs = 1500) {
      try {
        await request(`${endpoint}/version`, timeoutMs);
        return true;
      } catch {
        return false;
      }
    },

    async members(endpoint) {
      const r: MemberListJson = secure(endpoint)
        ? await overGrpc(endpoint, (c) => c.cluster.memberList({}, within(5000)))
        : await post<MemberListJson>(endpoint, "/v3/cluster/member/list", {}, 5000);
      return (r.members ?? []).map((m) => ({
        id: m.ID,
        name: m.name ?? "",
        peerUrls: m.peerURLs ?? [],
        clientUrls: m.clientURLs ?? [],
        isLearner: m.isLearner ?? false,
      }));
    },

    async keyCount(endpoint, revision) {
      if (secure(endpoint)) {
        const r = await overGrpc(endpoint, (c) =>
          c.kv.range(
            {
              key: Buffer.from([0]),
              range_end: Buffer.from([0]),
              count_only: true,
              ...(revision !== undefined ? { revision } : {}),
            },
            within(30_000),
          ),
        );
        return Number(r.count ?? 0);
      }
      const body: Record<string, unknown> = { key: ALL_KEYS, range_end: ALL_KEYS, count_only: true };
      if (revision !== undefined) body.revision = String(revision);
      const r = await post<{ count?: string }>(endpoint, "/v3/kv/range", body, 30_000);
      return Number(r.count ?? 0);
    },

    async put(endpoint, kvs) {
      if (secure(endpoint))
        return overGrpc(endpoint, async (c) => {
          for (const { key, value } of kvs)
            await c.kv.put({ key: Buffer.from(key), value: Buffer.from(value) }, within(10_000));
        });
      for (const { key, value } of kvs) {
        await post(endpoint, "/v3/kv/put", { key: b64(key), value: b64(value) }, 10_000);
      }
    },

    async getPrefix(endpoint, prefix) {
      if (secure(endpoint)) {
        const r = await overGrpc(endpoint, (c) =>
          c.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) }, within(30_000)),
        );
        return r.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }));
      }
      const r = await post<{ kvs?: { key: string; value?: string }[] }>(
        endpoint,
        "/v3/kv/range",
        { key: b64(prefix), range_end: b64(prefixEnd(prefix)) },
        30_000,
      );
      return (r.kvs ?? []).map((kv) => ({ key: unb64(kv.key), value: unb64(kv.value ?? "") }));
    },

    async openSnapshot(endpoint) {
      // One connection to exactly this member; no retries: a failed stream must fail the snapshot.
      // A 4 MiB HTTP/2 window lets etcd stay ahead of a reader that is busy with an upload, and still
      // bounds what is in flight (grpc-js's default of 64 KiB makes the stream round-trip bound).
      const client = new Etcd3({
        hosts: [endpoint],
        dialTimeout: 5000,
        ...(await credentials(endpoint)),
        grpcOptions: { "grpc-node.flow_control_window": SNAPSHOT_WINDOW } as Record<string, number>,
      });
      try {
        const grpcStream = (await client.maintenance.snapshot()) as unknown as Readable;
        // The gRPC stream is an object-mode Readable of SnapshotResponse messages (about 32 KiB each).
        // Piping it applies backpressure end to end: grpc-js stops reading the HTTP/2 stream when our
        // buffers are full, and HTTP/2 flow control then stops etcd sending.
        const bytes = new Transform({
          writableObjectMode: true,
          readableObjectMode: false,
          readableHighWaterMark: 1024 * 1024,
          transform(msg: { blob?: Buffer }, _enc: BufferEncoding, cb: TransformCallback) {
            cb(null, msg.blob && msg.blob.length ? msg.blob : undefined);
          },
        });
        grpcStream.on("error", (e) => bytes.destroy(e));
        grpcStream.pipe(bytes);
        return {
          stream: bytes,
          close: () => {
            (grpcStream as unknown as { cancel?: () => void }).cancel?.();
            grpcStream.destroy();
            client.close();
          },
        };
      } catch (e) {
        client.close();
        throw e;
      }
    },
  };
}
