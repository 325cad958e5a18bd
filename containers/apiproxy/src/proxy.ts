// The API proxy's request handling: route, access, rate limit, cache, the upstream call with the
// route's purchased key, and the audit record, against small ports (keys, store, upstream).
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ApiRoute } from "../../../functions/domain/apiRoutes.ts";

/** The purchased keys (SSM SecureStrings): the value, or undefined when the route has none yet. */
export interface KeyStore {
  keyOf(route: string): Promise<string | undefined>;
}

/** What the proxy keeps in Redis: cached answers and per-user call counters. */
export interface ProxyStore {
  getAnswer(key: string): Promise<Buffer | undefined>;
  putAnswer(key: string, value: Buffer, ttlSeconds: number): Promise<void>;
  /** Count one call in `bucket` (expiring after `ttlSeconds`); the count so far, this one included. */
  countCall(bucket: string, ttlSeconds: number): Promise<number>;
}

export interface AuditRecord {
  user: string;
  route: string;
  method: string;
  path: string;
  status: number;
  cache: "hit" | "miss" | "bypass";
  ms: number;
}

export interface ProxyDeps {
  routes: ApiRoute[];
  /** Whether a request from this address comes from a front door (whose X-Remote-* headers count). */
  fromFrontDoor: (address: string) => boolean;
  keys: KeyStore;
  store: ProxyStore;
  audit: (r: AuditRecord) => void;
  /** A failure the caller sees only as a code; the message is already free of any key. */
  fault: (code: string, error: string) => void;
  now?: () => number;
  upstreamTimeoutMs?: number;
}

/** Largest body the proxy reads from a caller or an upstream (answers are scanned for the key whole). */
export const BODY_LIMIT = 8 * 1024 * 1024;
/** Caller headers passed on: none identifies the caller, so an answer cannot depend on who asked. */
const FORWARDED_REQUEST_HEADERS = ["accept", "accept-language", "content-type"];
/** Upstream headers passed back; cookies and hop-by-hop headers never are. */
const RETURNED_HEADERS = [
  "content-type",
  "content-language",
  "cache-control",
  "etag",
  "last-modified",
  "location",
  "retry-after",
];

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The upstream set a cookie: the answer is someone's, never cached. */
  cookie?: boolean;
}

const encodeAnswer = (a: Answer) =>
  Buffer.concat([Buffer.from(JSON.stringify({ status: a.status, headers: a.headers }) + "\n"), a.body]);
function decodeAnswer(b: Buffer): Answer {
  const nl = b.indexOf(10);
  const head = JSON.parse(b.subarray(0, nl).toString("utf8")) as Omit<Answer, "body">;
  return { ...head, body: b.subarray(nl + 1) };
}

/** Every form in which a key could come back: as sent, URL-encoded, and base64 (e.g. echoed in Basic auth). */
function keyForms(key: string): Buffer[] {
  const forms = new Set([key, encodeURIComponent(key), Buffer.from(key).toString("base64")]);
  return [...forms].filter((f) => f.length >= 4).map((f) => Buffer.from(f));
}

function redact(body: Buffer, forms: Buffer[]): Buffer {
  let out = body;
  for (const f of forms) {
    let i = out.indexOf(f);
    if (i < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (i >= 0) {
      parts.push(out.subarray(from, i), Buffer.from("[redacted]"));
      from = i + f.length;
      i = out.indexOf(f, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}
const redactText = (s: string, forms: Buffer[]) => redact(Buffer.from(s), forms).toString("utf8");

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(new HttpError(413, "request.too_large", `a request body holds at most ${BODY_LIMIT} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * The cache key: the route, the path and query as the caller sent them, and the forwarded headers
 * that shape the answer. No caller identity goes upstream (only the route's own key does), so the
 * upstream cannot answer two callers differently for the same request, and sharing the answer
 * between them leaks nothing it would not have told either one.
 */
export function cacheKey(route: string, pathAndQuery: string, headers: IncomingMessage["headers"]): string {
  const h = createHash("sha256").update(pathAndQuery);
  for (const n of FORWARDED_REQUEST_HEADERS) h.update(`\n${n}:${String(headers[n] ?? "")}`);
  return `apiproxy:answer:${route}:${h.digest("hex")}`;
}

const groupsOf = (req: IncomingMessage) =>
  String(req.headers["x-remote-groups"] ?? "")
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean);

/** The handler for `/<route>/<path>`; `/healthz` and `/status` are the service's own. */
export function createProxy(deps: ProxyDeps) {
  const now = deps.now ?? Date.now;
  const byName = new Map(deps.routes.map((r) => [r.name, r]));

  const send = (res: ServerResponse, a: Answer) => {
    res.writeHead(a.status, { ...a.headers, "content-length": String(a.body.length) });
    res.end(a.body);
  };
  const json = (status: number, body: unknown, extra: Record<string, string> = {}): Answer => ({
    status,
    headers: { "content-type": "application/json", ...extra },
    body: Buffer.from(JSON.stringify(body) + "\n"),
  });

  /** Which routes have a key: the key's presence only, never its value. */
  const status = async () => ({
    routes: await Promise.all(
      deps.routes.map(async (r) => {
        let key: "present" | "missing" | "unreadable";
        try {
          key = (await deps.keys.keyOf(r.name)) ? "present" : "missing";
        } catch {
          key = "unreadable";
        }
        return {
          name: r.name,
          groups: r.groups,
          keyIn: r.key.in,
          ttlSeconds: r.ttlSeconds,
          rate: `${r.rate.limit}/${r.rate.windowSeconds}s`,
          key,
        };
      }),
    ),
  });

  async function callUpstream(
    route: ApiRoute,
    key: string,
    method: string,
    rest: string,
    search: string,
    req: IncomingMessage,
    body: Buffer | undefined,
  ): Promise<Answer> {
    const url = new URL(route.upstream + rest + search);
    const headers: Record<string, string> = {};
    for (const n of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[n];
      if (typeof v === "string") headers[n] = v;
    }
    if (route.key.in === "header") headers[route.key.name] = key;
    else url.searchParams.set(route.key.name, key);
    let r: Response;
    try {
      r = await fetch(url, {
        method,
        headers,
        ...(body && body.length ? { body } : {}),
        // A redirect is answered to the caller (its Location redacted), never followed with the key.
        redirect: "manual",
        signal: AbortSignal.timeout(deps.upstreamTimeoutMs ?? 30_000),
      });
    } catch (e) {
      const timeout = (e as Error).name === "TimeoutError";
      throw new HttpError(
        timeout ? 504 : 502,
        timeout ? "upstream.timeout" : "upstream.unreachable",
        timeout
          ? `upstream of '${route.name}' did not answer in time`
          : `upstream of '${route.name}' is unreachable`,
      );
    }
    const length = Number(r.headers.get("content-length") ?? 0);
    if (length > BODY_LIMIT) {
      await r.body?.cancel();
      throw new HttpError(502, "upstream.too_large", `upstream answer over ${BODY_LIMIT} bytes`);
    }
    const bytes = Buffer.from(await r.arrayBuffer());
    if (bytes.length > BODY_LIMIT)
      throw new HttpError(502, "upstream.too_large", `upstream answer over ${BODY_LIMIT} bytes`);
    const forms = keyForms(key);
    const out: Record<string, string> = {};
    for (const n of RETURNED_HEADERS) {
      const v = r.headers.get(n);
      if (v !== null) out[n] = redactText(v, forms);
    }
    return {
      status: r.status,
      headers: out,
      body: redact(bytes, forms),
      cookie: r.headers.has("set-cookie"),
    };
  }

  const cacheable = (a: Answer) =>
    a.status >= 200 &&
    a.status < 300 &&
    !a.cookie &&
    !/\b(no-store|private)\b/i.test(a.headers["cache-control"] ?? "");

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = now();
    const url = new URL(req.url ?? "/", "http://proxy.invalid");
    const method = req.method ?? "GET";
    if (url.pathname === "/healthz") return send(res, json(200, { ok: true }));
    const user = String(req.headers["x-remote-user"] ?? "");
    const m = /^\/([a-z0-9-]+)(\/.*)?$/.exec(url.pathname);
    const routeName = m?.[1] ?? "";
    let cache: AuditRecord["cache"] = "bypass";
    let answer: Answer;
    try {
      // The identity headers mean something only when a front door set them (it strips any from outside).
      if (!deps.fromFrontDoor(req.socket.remoteAddress ?? ""))
        throw new HttpError(403, "caller.not_front_door", "call through the front door");
      if (!user) throw new HttpError(401, "auth.required", "sign in through the front door");
      if (url.pathname === "/status" && method === "GET") {
        answer = json(200, await status());
      } else {
        const route = byName.get(routeName);
        if (!route) throw new HttpError(404, "route.unknown", `no API route '${routeName}'`);
        const groups = groupsOf(req);
        if (!route.groups.some((g) => groups.includes(g)))
          throw new HttpError(
            403,
            "access.denied",
            `route '${route.name}' is for members of ${route.groups.join(", ")}`,
          );
        // Counted before anything else is spent: a refused call costs neither the key nor the upstream.
        const window = route.rate.windowSeconds;
        const slot = Math.floor(now() / 1000 / window);
        const calls = await deps.store.countCall(
          `apiproxy:rate:${route.name}:${createHash("sha256").update(user).digest("hex").slice(0, 32)}:${slot}`,
          window,
        );
        if (calls > route.rate.limit) {
          const retry = Math.max(1, (slot + 1) * window - Math.floor(now() / 1000));
          throw Object.assign(
            new HttpError(
              429,
              "rate.limited",
              `over ${route.rate.limit} calls per ${window} s on '${route.name}'; retry in ${retry} s`,
            ),
            { retry },
          );
        }
        const body = method === "GET" || method === "HEAD" ? undefined : await readBody(req);
        const useCache = method === "GET" && route.ttlSeconds > 0;
        const ck = useCache ? cacheKey(route.name, (m?.[2] ?? "/") + url.search, req.headers) : "";
        const hit = useCache ? await deps.store.getAnswer(ck) : undefined;
        if (hit) {
          cache = "hit";
          answer = decodeAnswer(hit);
        } else {
          const key = await deps.keys.keyOf(route.name);
          if (!key)
            throw new HttpError(
              503,
              "key.missing",
              `route '${route.name}' has no key yet: an operator stores it as an SSM SecureString (see /status)`,
            );
          answer = await callUpstream(route, key, method, m?.[2] ?? "", url.search, req, body);
          if (useCache) {
            cache = "miss";
            if (cacheable(answer)) await deps.store.putAnswer(ck, encodeAnswer(answer), route.ttlSeconds);
          }
        }
        answer.headers["x-cache"] = cache;
      }
    } catch (e) {
      if (e instanceof HttpError) {
        const extra: Record<string, string> = {};
        const retry = (e as HttpError & { retry?: number }).retry;
        if (retry) extra["retry-after"] = String(retry);
        answer = json(e.status, { error: e.message, code: e.code }, extra);
      } else {
        // Anything else (the store, SSM) is the service's fault; its message stays in the service's log.
        deps.fault("request.failed", (e as Error).message);
        answer = json(503, {
          error: "the proxy cannot serve this now; try again",
          code: "proxy.unavailable",
        });
      }
    }
    send(res, answer);
    deps.audit({
      user,
      route: routeName,
      method,
      path: url.pathname,
      status: answer.status,
      cache,
      ms: now() - started,
    });
  };
}
