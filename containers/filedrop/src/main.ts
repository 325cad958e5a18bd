// filedrop: signed-in users upload files (the browser sends the parts straight to S3 through
// presigned multipart URLs; this service only creates, completes and aborts uploads) and the
// recipients get an emailed link that works without an account until it expires. Records live in
// the bucket next to the files (they follow the service to any node). Run as ROLE=app behind
// sign-in, and as ROLE=links (the public download host, GET /d/<token> only). The app trusts the
// X-Remote-User header only on requests from the front doors announced in etcd.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { SESClient, SendEmailCommand } from "@aws-sdk/client-ses";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { z } from "zod";
import { ConfigError } from "../../../functions/domain/errors.ts";
import { FILEDROP_KEY_PREFIX, FILEDROP_MAX_DAYS } from "../../../functions/domain/fileDrop.ts";
import { SERVICE_NAME } from "../../../functions/domain/presence.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { followFrontDoors, type FrontDoors } from "../../shared/frontDoors.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import {
  checkParts,
  contentDisposition,
  DropError,
  isExpired,
  keys,
  LinkRecord,
  newToken,
  newUploadId,
  PendingRecord,
  planUpload,
  S3_MIN_PART,
  TOKEN,
  tokenHash,
  UPLOAD_ID,
  type Limits,
} from "./drop.ts";
import { PAGE } from "./page.ts";

const log = programLogger("filedrop");
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8096),
  ROLE: z.enum(["app", "links"]).default("app"),
  CLUSTER_NAME: z.string({ error: "required: the cluster's name" }).regex(/^[a-z][a-z0-9-]{0,30}$/),
  BUCKET: z.string({ error: "required: the bucket (the cluster's snapshot bucket)" }).min(3),
  /** The public base of emailed links, e.g. https://filedrop-links.<domain>. */
  LINK_BASE_URL: z.url({ protocol: /^https?$/, error: "required: the links' public base URL" }),
  SENDER: z.email({ error: "required: the sender address (a verified SES identity)" }).optional(),
  MAX_FILE_BYTES: int(1, 5 * 1024 * GiB, 20 * GiB),
  PART_BYTES: int(S3_MIN_PART, 5 * GiB, 16 * MiB),
  /** Parts the page sends at once (what the throughput figure uses too). */
  PARALLEL_PARTS: int(1, 32, 4),
  MAX_RECIPIENTS: int(1, 50, 10),
  MAX_DAYS: int(1, FILEDROP_MAX_DAYS, FILEDROP_MAX_DAYS),
  DEFAULT_DAYS: int(1, 30, 7),
  /** How long a presigned part URL or download redirect stays valid. */
  PART_URL_SECONDS: int(60, 7 * 24 * 3600, 6 * 3600),
  DOWNLOAD_URL_SECONDS: int(10, 3600, 300),
  /** Where the announced front doors are read (ROLE=app: whose X-Remote-User it trusts). */
  ETCD_ENDPOINTS: etcdEndpoints,
  /** The service whose announced instances are the front doors. */
  FRONT_DOOR_SERVICE: z.string().regex(SERVICE_NAME, "a service name").default("nginx"),
});

const BODY_LIMIT = 1024 * 1024;

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(new DropError(413, `a request body holds at most ${BODY_LIMIT} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new DropError(400, "the body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
};

await runProgram(log, async () => {
  const env = loadEnv(Env);
  if (env.ROLE === "app" && !env.SENDER)
    throw new ConfigError("invalid or missing configuration: SENDER: required with ROLE=app");
  const limits: Limits = {
    maxFileBytes: env.MAX_FILE_BYTES,
    partBytes: env.PART_BYTES,
    maxRecipients: env.MAX_RECIPIENTS,
    maxDays: env.MAX_DAYS,
    defaultDays: env.DEFAULT_DAYS,
  };
  const prefix = `${FILEDROP_KEY_PREFIX}${env.CLUSTER_NAME}/`;
  const Bucket = env.BUCKET;
  // Path style: bucket names with dots and local endpoints both work; the presigned URLs follow.
  const s3 = new S3Client({ forcePathStyle: true, maxAttempts: 3 });
  const ses = new SESClient({ maxAttempts: 3 });
  // The public download host takes no identity, so only the app follows the front doors.
  const etcd = env.ROLE === "app" ? etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv()) : undefined;
  const doors: FrontDoors | undefined = etcd
    ? followFrontDoors(etcd, env.FRONT_DOOR_SERVICE, { debounceMs: 200, log })
    : undefined;

  const getJson = async <T>(key: string, schema: z.ZodType<T>): Promise<T | undefined> => {
    try {
      const r = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
      return schema.parse(JSON.parse(await r.Body!.transformToString()));
    } catch (e) {
      if ((e as Error).name === "NoSuchKey") return undefined;
      throw e;
    }
  };
  const putJson = (key: string, value: unknown) =>
    s3.send(
      new PutObjectCommand({
        Bucket,
        Key: key,
        Body: JSON.stringify(value),
        ContentType: "application/json",
      }),
    );

  const pendingOf = async (id: string, user: string) => {
    if (!UPLOAD_ID.test(id)) throw new DropError(404, "no such upload");
    const p = await getJson(keys.pending(prefix, id), PendingRecord);
    // Someone else's upload is answered as missing: ids are not to be probed.
    if (!p || p.owner !== user) throw new DropError(404, "no such upload (completed, aborted or not yours)");
    return p;
  };

  const create = async (user: string, body: unknown) => {
    const u = planUpload(body, limits);
    const id = newUploadId();
    const Key = keys.file(prefix, id);
    const mp = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket,
        Key,
        ContentDisposition: contentDisposition(u.name),
        Metadata: { owner: user },
      }),
    );
    const uploadId = mp.UploadId!;
    await putJson(keys.pending(prefix, id), {
      id,
      owner: user,
      uploadId,
      name: u.name,
      size: u.size,
      parts: u.parts,
      recipients: u.recipients,
      days: u.days,
      createdAt: new Date().toISOString(),
    } satisfies PendingRecord);
    const urls = await Promise.all(
      Array.from({ length: u.parts }, (_, i) =>
        getSignedUrl(s3, new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber: i + 1 }), {
          expiresIn: env.PART_URL_SECONDS,
        }),
      ),
    );
    log.info("upload.started", { code: "upload.started", user, upload: id, size: u.size, parts: u.parts });
    return {
      id,
      partBytes: limits.partBytes,
      parallel: env.PARALLEL_PARTS,
      parts: urls.map((url, i) => ({ partNumber: i + 1, url })),
    };
  };

  const complete = async (user: string, id: string, body: unknown) => {
    const p = await pendingOf(id, user);
    const parts = checkParts(body, p.parts);
    const Key = keys.file(prefix, id);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: p.uploadId,
        MultipartUpload: { Parts: parts.map((x) => ({ PartNumber: x.partNumber, ETag: x.etag })) },
      }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    if (head.ContentLength !== p.size) {
      // A file other than the one announced is not kept: the limits were checked on the announced size.
      await s3.send(new DeleteObjectCommand({ Bucket, Key }));
      await s3.send(new DeleteObjectCommand({ Bucket, Key: keys.pending(prefix, id) }));
      throw new DropError(
        400,
        `the parts hold ${head.ContentLength} bytes, not the announced ${p.size}; discarded`,
      );
    }
    const token = newToken();
    const expiresAt = new Date(Date.now() + p.days * 86_400_000).toISOString();
    await putJson(keys.link(prefix, tokenHash(token)), {
      id,
      owner: user,
      name: p.name,
      size: p.size,
      recipients: p.recipients,
      expiresAt,
    } satisfies LinkRecord);
    await s3.send(new DeleteObjectCommand({ Bucket, Key: keys.pending(prefix, id) }));
    const link = `${env.LINK_BASE_URL.replace(/\/$/, "")}/d/${token}`;
    await ses.send(
      new SendEmailCommand({
        Source: env.SENDER!,
        Destination: { ToAddresses: p.recipients },
        Message: {
          Subject: { Data: `${user} sent you ${p.name}`, Charset: "UTF-8" },
          Body: {
            Text: {
              Data: `${user} sent you ${p.name} (${p.size} bytes).\n\nDownload it until ${expiresAt}:\n${link}\n`,
              Charset: "UTF-8",
            },
          },
        },
      }),
    );
    log.info("upload.completed", {
      code: "upload.completed",
      user,
      upload: id,
      size: p.size,
      recipients: p.recipients.length,
      expiresAt,
    });
    return { id, link, expiresAt };
  };

  const abort = async (user: string, id: string) => {
    const p = await pendingOf(id, user);
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket, Key: keys.file(prefix, id), UploadId: p.uploadId }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket, Key: keys.pending(prefix, id) }));
    log.info("upload.aborted", { code: "upload.aborted", user, upload: id });
  };

  const download = async (token: string, res: ServerResponse) => {
    const link = TOKEN.test(token)
      ? await getJson(keys.link(prefix, tokenHash(token)), LinkRecord)
      : undefined;
    if (!link) throw new DropError(404, "no such link");
    if (isExpired(link, new Date())) {
      log.info("download.expired", { code: "download.expired", upload: link.id });
      throw new DropError(410, `this link expired at ${link.expiresAt}`);
    }
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: keys.file(prefix, link.id) }), {
      expiresIn: env.DOWNLOAD_URL_SECONDS,
    });
    // The link's upload id names it in the log; the token never appears there.
    log.info("download", { code: "download", upload: link.id, owner: link.owner, size: link.size });
    res.writeHead(303, { location: url, "cache-control": "no-store" });
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    if (path === "/healthz") return send(res, 200, { ok: true });
    const d = /^\/d\/([^/]+)$/.exec(path);
    if (d && (req.method === "GET" || req.method === "HEAD")) return download(d[1]!, res);
    if (env.ROLE === "links") throw new DropError(404, "not found");
    // Everything but a link is for signed-in users: the front door sets this after sign-in and
    // strips it from outside requests, so it counts only on a request from an announced front door.
    if (!doors?.has((req.socket.remoteAddress ?? "").replace(/^::ffff:/, "")))
      throw new DropError(403, "call through the front door");
    const user = req.headers["x-remote-user"];
    if (typeof user !== "string" || !user) throw new DropError(401, "sign in first");
    if (path === "/" && req.method === "GET") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      return res.end(PAGE);
    }
    if (path === "/api/limits" && req.method === "GET")
      return send(res, 200, { ...limits, parallel: env.PARALLEL_PARTS });
    if (path === "/api/uploads" && req.method === "POST")
      return send(res, 201, await create(user, await readJson(req)));
    const m = /^\/api\/uploads\/([^/]+)(\/complete)?$/.exec(path);
    if (m && m[2] && req.method === "POST")
      return send(res, 200, await complete(user, m[1]!, await readJson(req)));
    if (m && !m[2] && req.method === "DELETE") {
      await abort(user, m[1]!);
      return send(res, 200, { aborted: m[1] });
    }
    throw new DropError(404, "not found");
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof DropError) return send(res, e.status, { error: e.message });
      const name = (e as Error).name;
      // S3's refusals of a completion (a missing or wrong part) are the client's to fix.
      if (
        name === "InvalidPart" ||
        name === "InvalidPartOrder" ||
        name === "EntityTooSmall" ||
        name === "NoSuchUpload"
      )
        return send(res, 400, { error: `S3 refused the parts: ${name}` });
      log.error("request.failed", {
        code: "request.failed",
        path: (req.url ?? "").replace(/\/d\/.*/, "/d/…"),
        error: (e as Error).message,
      });
      send(res, 502, { error: "storage or mail failed; try again" });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.LISTEN_ADDRESS, resolve);
  });
  log.info("listening", { code: "listening", role: env.ROLE, address: env.LISTEN_ADDRESS, port: env.PORT });
  return {
    stop: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      s3.destroy();
      ses.destroy();
      await doors?.close();
      etcd?.close();
    },
  };
});
