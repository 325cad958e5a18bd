// A member's HTTP endpoints (/health, /version, the v3 JSON gateway): one request each with a hard
// time limit, over https with the control plane's certificate when the member serves TLS (then on
// its HTTP listener: callers name the member by its client URL either way).
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type Agent as HttpsAgent } from "node:https";
import { DevclusterError } from "../../domain/errors.ts";
import { etcdHttpBase } from "../../domain/model.ts";

/**
 * One request to a member; over https with the control plane's certificate when `agent` is given
 * (an agent, or how to get one when an https request first needs it).
 */
export function etcdHttp(agent: HttpsAgent | (() => Promise<HttpsAgent>) | undefined) {
  const once = async (
    u: URL,
    timeoutMs: number,
    body?: string,
  ): Promise<{ status: number; text: string }> => {
    const secure = u.protocol === "https:";
    if (secure && !agent)
      throw new DevclusterError(`etcd ${u.href}: https needs the control plane's certificate`);
    const tlsAgent = secure ? (typeof agent === "function" ? await agent() : agent) : undefined;
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(
        u,
        {
          method: body === undefined ? "GET" : "POST",
          signal: AbortSignal.timeout(timeoutMs),
          ...(tlsAgent ? { agent: tlsAgent } : {}),
          ...(body === undefined ? {} : { headers: { "content-type": "application/json" } }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  };
  const request = async (url: string, timeoutMs: number, body?: string) => {
    // A member serving TLS answers HTTP on its own listener, not on the gRPC port (etcdHttpBase).
    const given = new URL(url);
    const mapped = new URL(`${given.pathname}${given.search}`, etcdHttpBase(url));
    if (mapped.href === given.href) return once(given, timeoutMs, body);
    try {
      return await once(mapped, timeoutMs, body);
    } catch (e) {
      // Nothing listens there: a member started before it had one (decision 79) serves HTTP on its
      // client port, until its next start writes the listener into its settings.
      if ((e as NodeJS.ErrnoException).code !== "ECONNREFUSED") throw e;
      return once(given, timeoutMs, body);
    }
  };
  return {
    request,
    /** The member's `/health` answers 200 with `"health": "true"` within `timeoutMs` (false on any failure). */
    async healthy(endpoint: string, timeoutMs: number): Promise<boolean> {
      try {
        const res = await request(`${endpoint}/health`, timeoutMs);
        return res.status === 200 && (JSON.parse(res.text) as { health?: string }).health === "true";
      } catch {
        return false;
      }
    },
    async post<T>(endpoint: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
      const res = await request(`${endpoint}${path}`, timeoutMs, JSON.stringify(body));
      if (res.status < 200 || res.status >= 300)
        throw new DevclusterError(`etcd ${endpoint}${path}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
      return JSON.parse(res.text) as T;
    },
  };
}
