// One HTTP request to a server on loopback, sent as a browser would send it to a name: connected to
// an address and port, the name in the Host header, a form or JSON body, the whole answer collected
// (no connection kept, so nothing outlives the test).
import { request, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

export interface HttpAnswer {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
  /** The `name=value` part of each Set-Cookie. */
  cookies: string[];
}

export function httpAsk(
  to: { address: string; port: number | string },
  path: string,
  opts: {
    /** The Host header (the name the server is asked as); the address by default. */
    host?: string;
    method?: string;
    headers?: Record<string, string>;
    form?: Record<string, string>;
    json?: unknown;
    /** A body sent as it is (give its content-type in `headers`). */
    body?: string;
    signal?: AbortSignal;
    /** The address the request leaves from (e.g. a front door's, which a backend trusts). */
    localAddress?: string;
    /** HTTPS, the server's certificate checked against `ca` for the Host name. */
    tls?: { ca: string };
  } = {},
): Promise<HttpAnswer> {
  const body =
    opts.form !== undefined
      ? new URLSearchParams(opts.form).toString()
      : opts.json !== undefined
        ? JSON.stringify(opts.json)
        : opts.body;
  const type = opts.form !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {};
  return new Promise((resolve, reject) => {
    const req = (opts.tls ? httpsRequest : request)(
      {
        ...(opts.tls ? { ca: opts.tls.ca, servername: opts.host ?? to.address } : {}),
        host: to.address,
        port: to.port,
        path,
        method: opts.method ?? (body !== undefined ? "POST" : "GET"),
        agent: false,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        headers: { ...(opts.host ? { host: opts.host } : {}), ...type, ...opts.headers },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text,
            headers: res.headers,
            cookies: ([] as string[]).concat(res.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]!),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
