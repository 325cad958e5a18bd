// One local TCP port forwarding to the current targets of a route (the ambassador's routes, and
// etcd-amb's members over TLS). Target changes affect only new connections: established ones keep
// their instance until either side closes.
import { connect, createServer, type Server, type Socket } from "node:net";
import type { Logger } from "./log.ts";

/**
 * How a connection to a target is made: plain TCP by default; `ready` is the event after which
 * bytes may flow (`secureConnect` for TLS).
 */
export type Dial = (host: string, port: number) => { socket: Socket; ready: "connect" | "secureConnect" };
const plainDial: Dial = (host, port) => ({ socket: connect({ host, port }), ready: "connect" });

export interface RouteProxy {
  setTargets(targets: string[]): void;
  readonly targets: string[];
  /** Open connections (both sides counted once). */
  readonly open: number;
  listen(): Promise<void>;
  /** Stop accepting; open connections are left to finish within `graceMs`, then closed. */
  close(graceMs: number): Promise<void>;
}

export function routeProxy(opts: {
  name: string;
  address: string;
  port: number;
  connectTimeoutMs: number;
  log: Logger;
  dial?: Dial;
}): RouteProxy {
  const dial = opts.dial ?? plainDial;
  let targets: string[] = [];
  let next = 0;
  const conns = new Set<Socket>();
  let refusedSince = 0;
  let refusedCount = 0;

  const refuse = (client: Socket) => {
    // Reset at once: the client's connect fails now instead of hanging on a black hole.
    client.resetAndDestroy();
    refusedCount++;
    const now = Date.now();
    if (now - refusedSince >= 1000) {
      opts.log.warn("route.no_instance", {
        code: "route.no_instance",
        route: opts.name,
        refused: refusedCount,
      });
      refusedSince = now;
      refusedCount = 0;
    }
  };

  const forward = (client: Socket, tried: number) => {
    if (!targets.length || tried >= targets.length) return refuse(client);
    const t = targets[next++ % targets.length]!;
    const i = t.lastIndexOf(":");
    let upstream: Socket;
    let ready: "connect" | "secureConnect";
    try {
      ({ socket: upstream, ready } = dial(t.slice(0, i), Number(t.slice(i + 1))));
    } catch (e) {
      // What a dial needs before connecting (a certificate file) is missing: no target can do better.
      opts.log.warn("route.connect_failed", {
        code: "route.connect_failed",
        route: opts.name,
        target: t,
        error: (e as Error).message,
      });
      return refuse(client);
    }
    upstream.setTimeout(opts.connectTimeoutMs, () => upstream.destroy(new Error("connect timeout")));
    const onFail = (e: Error) => {
      opts.log.warn("route.connect_failed", {
        code: "route.connect_failed",
        route: opts.name,
        target: t,
        error: e.message,
      });
      if (!client.destroyed) forward(client, tried + 1);
    };
    upstream.once("error", onFail);
    upstream.once(ready, () => {
      upstream.off("error", onFail);
      upstream.setTimeout(0);
      conns.add(upstream);
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      upstream.on("error", end);
      client.on("error", end);
      upstream.on("close", end);
      client.on("close", end);
      upstream.once("close", () => conns.delete(upstream));
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    conns.add(client);
    client.once("close", () => conns.delete(client));
    client.on("error", () => client.destroy());
    forward(client, 0);
  });

  return {
    get targets() {
      return targets;
    },
    get open() {
      return conns.size;
    },
    setTargets(t) {
      if (t.join() === targets.join()) return;
      opts.log.info("route.targets", { code: "route.targets", route: opts.name, targets: t });
      targets = t;
    },
    listen() {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.port, opts.address, () => {
          server.off("error", reject);
          resolve();
        });
      });
    },
    async close(graceMs) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      const t = setTimeout(() => {
        for (const c of conns) c.destroy();
      }, graceMs);
      await closed;
      clearTimeout(t);
    },
  };
}
