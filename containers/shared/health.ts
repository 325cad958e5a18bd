// Health checks of an announced instance: a TCP connect, or an HTTP GET answered 2xx/3xx.
import { connect } from "node:net";
import { request } from "node:http";

export type HealthCheck =
  | { kind: "none" }
  | { kind: "tcp"; host: string; port: number }
  | { kind: "http"; host: string; port: number; path: string };

/** `tcp:<portName>`, `http:<portName>/<path>` or `none`, resolved against the instance's named ports. */
export function parseHealthCheck(spec: string, ports: Record<string, number>, host: string): HealthCheck {
  if (spec === "none") return { kind: "none" };
  const m = /^(tcp|http):([a-z][a-z0-9-]{0,31}|\d{1,5})(\/.*)?$/.exec(spec);
  if (!m) throw new Error(`'${spec}' is not tcp:<port>, http:<port>/<path> or none`);
  const port = /^\d+$/.test(m[2]!) ? Number(m[2]) : ports[m[2]!];
  if (port === undefined) throw new Error(`'${spec}' names no port of ${Object.keys(ports).join(", ")}`);
  if (m[1] === "tcp") {
    if (m[3]) throw new Error(`'${spec}': a tcp check has no path`);
    return { kind: "tcp", host, port };
  }
  return { kind: "http", host, port, path: m[3] ?? "/" };
}

/** Resolves with `undefined` when healthy, else with the reason. Never rejects. */
export function checkHealth(c: HealthCheck, timeoutMs: number): Promise<string | undefined> {
  if (c.kind === "none") return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let done = false;
    const finish = (reason: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve(reason);
    };
    const t = setTimeout(() => {
      finish(`no answer within ${timeoutMs} ms`);
      cleanup();
    }, timeoutMs);
    let cleanup = () => {};
    if (c.kind === "tcp") {
      const s = connect({ host: c.host, port: c.port });
      cleanup = () => s.destroy();
      s.once("connect", () => {
        s.destroy();
        finish(undefined);
      });
      s.once("error", (e) => finish(e.message));
    } else {
      const req = request(
        {
          host: c.host,
          port: c.port,
          path: c.path,
          method: "GET",
          agent: false,
          headers: { "user-agent": "devcluster-presence" },
        },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          finish(code >= 200 && code < 400 ? undefined : `HTTP ${code}`);
        },
      );
      cleanup = () => req.destroy();
      req.once("error", (e) => finish(e.message));
      req.end();
    }
  });
}
