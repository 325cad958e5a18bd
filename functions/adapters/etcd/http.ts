// A member's HTTP endpoints (/health, /version, the v3 JSON gateway): one request each with a hard
// time limit, over https with the control plane's certificate when the member serves TLS.
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type Agent as HttpsAgent } from "node:https";
import { DevclusterError } from "../../domain/errors.ts";

/**
 * One request to a member; over https with the control plane's certificate when `agent` is given
 * (an agent, or how to get one when an https request first needs it).
 */
export function etcdHttp(agent: HttpsAgent | (() => Promise<HttpsAgent>) | undefined) {
  const request = async (
    url: string,
    timeoutMs: number,
    body?: string,
  ): Promise<{ status: number; text: string }> => {
    const u = new URL(url);
    const secure = u.protocol === "https:";
    if (secure && !agent)
      throw new DevclusterError(`etcd ${url}: https needs the control plane's certificate`);
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
