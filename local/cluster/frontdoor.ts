// Asking a front door for a service by name (the Host header), as a browser resolving
// <service>.<domain> to a front-door node would.
import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

export interface Answer {
  status: number;
  body: string;
}

/** One GET http://<address><path> with Host: <host>; undefined when nothing answers within `ms`. */
export function askFrontDoor(
  address: string,
  host: string,
  ms = 1000,
  path = "/",
): Promise<Answer | undefined> {
  return new Promise((done) => {
    const req = request({ host: address, port: 80, path, headers: { host }, timeout: ms }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => done({ status: res.statusCode ?? 0, body }));
      res.on("error", () => done(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(undefined));
    req.end();
  });
}

/**
 * Ask until a good answer (200) comes that does not mention `avoid` (a node that should no longer
 * serve); `target` says where to ask (re-read each round, undefined: not yet known).
 */
export async function waitForAnswer(
  target: () => Promise<{ address: string; avoid: string } | undefined>,
  host: string,
  timeoutMs: number,
): Promise<Answer & { address: string }> {
  const until = Date.now() + timeoutMs;
  let last = "nothing answered";
  while (Date.now() < until) {
    const t = await target();
    if (t) {
      const a = await askFrontDoor(t.address, host);
      if (a && a.status === 200 && (!t.avoid || !a.body.includes(t.avoid)))
        return { ...a, address: t.address };
      last = a ? `${a.status} ${a.body.trim().slice(0, 120)}` : `no answer from ${t.address}`;
    }
    await sleep(100);
  }
  throw new Error(`${host} did not answer within ${timeoutMs / 1000} s (last: ${last})`);
}
