// Requests for `<service>.<domain>` at a local cluster's front door, as a signed-in browser sends
// them: the door is a healthy front-door instance found by status each time (nodes change under
// load), the session is the test's own cookie, and `askUntil` waits for an answer that holds.
import { pollUntil } from "../../functions/domain/poll.ts";
import { status } from "../../local/cluster/cluster.ts";
import { httpAsk, type HttpAnswer } from "./http.ts";
import type { LocalClusterRig } from "./localCluster.ts";

export type AskOptions = Parameters<typeof httpAsk>[2];

export function frontDoorSites(
  lc: LocalClusterRig,
  o: {
    /** HTTPS on 443 with the cluster's CA (read when asked); plain HTTP on 80 without. */
    ca?: () => string;
    /** The Cookie header to send (empty: none). */
    cookie: () => string;
    /** Every Set-Cookie of an answer (`name=value`), for a test that keeps a jar. */
    onCookies?: (cookies: string[]) => void;
    intervalMs?: number;
  },
) {
  /** A healthy front door's address now. */
  async function frontDoor(): Promise<string | undefined> {
    const s = await status(lc.dir);
    return s.services.find((x) => x.name === "nginx")?.instances.find((i) => i.healthy)?.address;
  }

  /** One request; undefined when no front door is healthy or the request failed. */
  async function ask(service: string, path: string, opts: AskOptions = {}): Promise<HttpAnswer | undefined> {
    const door = await frontDoor();
    if (!door) return undefined;
    const cookie = o.cookie();
    const a = await httpAsk({ address: door, port: o.ca ? 443 : 80 }, path, {
      ...opts,
      host: `${service}.${lc.state.domain}`,
      ...(o.ca ? { tls: { ca: o.ca() } } : {}),
      headers: { ...(cookie ? { cookie } : {}), ...opts.headers },
      signal: AbortSignal.timeout(60_000),
    }).catch(() => undefined);
    if (a && o.onCookies) o.onCookies(a.cookies);
    return a;
  }

  /** Ask until `ok` holds (services start, restart and move under load): the answer that held. */
  async function askUntil(
    service: string,
    path: string,
    ok: (a: HttpAnswer) => boolean,
    opts: AskOptions = {},
    timeoutMs = 300_000,
  ): Promise<HttpAnswer> {
    let last: HttpAnswer | undefined;
    const got = await pollUntil(
      async () => {
        last = await ask(service, path, opts);
        return last && ok(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: o.intervalMs ?? 1000 },
    );
    if (!got)
      throw new Error(
        `${service}${path}: no good answer in ${timeoutMs / 1000} s (last: ${last ? `${last.status} ${last.body.slice(0, 300)}` : "none"})`,
      );
    return got;
  }

  return { frontDoor, ask, askUntil };
}
