// The dashboard: one page over a target (the local cluster, or a deployed stack behind the front
// door), served by node:http: one page and four JSON routes need no framework, and node:http keeps
// the header and origin checks below in plain sight.
//
// Who may do what: locally the operator who started it is the admin and the server listens on
// loopback only. Behind the front door (`trustProxy`), a request is served only when it comes from a
// front door's address, and the user and groups are the X-Remote-User/X-Remote-Groups headers the
// front door sets after single sign-on (it strips any that arrive from outside); only the `admins`
// group may restart or snapshot. POSTs are CSRF-safe: they need the page's token in a header (a page
// of another origin cannot read it), a JSON body, and a same-origin Origin; locally the Host header
// must name this server (no DNS rebinding); behind the front door the Origin must name the host the
// front door served the page as.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { DevclusterError, InvalidInputError } from "../../functions/domain/errors.ts";
import { readView, takeSnapshot, unitAction, unitRows } from "./operate.ts";
import { dashboardPage } from "./dashboardPage.ts";
import type { OpsTarget } from "./target.ts";

export const ADMINS_GROUP = "admins";

export interface DashboardOptions {
  host: string;
  port: number;
  /**
   * The front door's address, or a test of a request's source address (the cluster's front doors
   * change): only their requests are served, and only their identity headers trusted.
   */
  trustProxy?: string | ((address: string) => boolean) | undefined;
  /**
   * Restart through the `restart` function instead of node commands: the dashboard service, whose
   * role (the nodes') may send no node command but may invoke that function, which restarts only a
   * placed unit where it is placed.
   */
  restartByFunction?: boolean | undefined;
}

export interface Dashboard {
  url: string;
  server: Server;
  close(): Promise<void>;
}

interface Identity {
  user: string;
  admin: boolean;
}

const send = (res: ServerResponse, status: number, body: unknown, type = "application/json", nonce = "") => {
  const text = type === "application/json" ? JSON.stringify(body) : String(body);
  res.writeHead(status, {
    "content-type": `${type}; charset=utf-8`,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": `default-src 'none'; script-src ${nonce ? `'nonce-${nonce}'` : "'none'"}; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  });
  res.end(text);
};

const header = (req: IncomingMessage, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 10_000) throw new InvalidInputError("request body too large");
  }
  try {
    const v = JSON.parse(text || "{}") as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new InvalidInputError(`request body is not a JSON object (${(e as Error).message})`);
  }
}

export async function startDashboard(t: OpsTarget, opts: DashboardOptions): Promise<Dashboard> {
  const token = randomBytes(24).toString("base64url");
  const tokenOk = (given: string | undefined) =>
    given !== undefined &&
    given.length === token.length &&
    timingSafeEqual(Buffer.from(given), Buffer.from(token));

  const identify = (req: IncomingMessage): Identity | undefined => {
    if (!opts.trustProxy) return { user: "local operator", admin: true };
    const from = req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "";
    const trusted = typeof opts.trustProxy === "string" ? from === opts.trustProxy : opts.trustProxy(from);
    if (!trusted) return undefined;
    const user = header(req, "x-remote-user");
    if (!user) return undefined;
    const groups = (header(req, "x-remote-groups") ?? "").split(",").map((g) => g.trim());
    return { user, admin: groups.includes(ADMINS_GROUP) };
  };

  let self = "";
  /** Locally this server itself; behind the front door the host it served the page as (any scheme). */
  const sameOrigin = (origin: string, forwardedHost: string | undefined) => {
    if (forwardedHost === undefined) return origin === `http://${self}`;
    try {
      return new URL(origin).hostname === forwardedHost.replace(/:\d+$/, "");
    } catch {
      return false;
    }
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // The Host header names this server (or, behind the front door, whatever name it serves us as).
    if (!opts.trustProxy && header(req, "host") !== self) return send(res, 421, { error: "wrong host" });
    // What presence's health check asks (from the node itself): no identity, no data.
    if (opts.trustProxy && req.method === "GET" && req.url === "/healthz")
      return send(res, 200, { ok: true });
    const who = identify(req);
    if (!who) return send(res, 403, { error: "only the front door's signed-in requests are served" });
    const url = new URL(req.url ?? "/", "http://dashboard");
    if (req.method === "GET") {
      switch (url.pathname) {
        case "/": {
          const nonce = randomBytes(16).toString("base64");
          const page = dashboardPage({
            token,
            nonce,
            user: who.user,
            admin: who.admin,
            target: t.describe,
            canRestart: true,
          });
          return send(res, 200, page, "text/html", nonce);
        }
        case "/api/view": {
          // With the unit rows: the states are in the view, so one read paints the whole page.
          const view = await readView(t);
          return send(res, 200, { ...view, unitRows: unitRows(view) });
        }
        case "/api/units":
          return send(res, 200, unitRows(await readView(t)));
        case "/api/events":
          try {
            return send(res, 200, { events: await t.recentEvents(100) });
          } catch (e) {
            return send(res, 200, { events: [], unavailable: (e as Error).message });
          }
        default:
          return send(res, 404, { error: "not found" });
      }
    }
    if (req.method !== "POST") return send(res, 405, { error: "method not allowed" });
    // CSRF: the token only this origin's page can read, a JSON body (a form cannot send one), and an
    // Origin that is this server when the browser sends one.
    if (!tokenOk(header(req, "x-csrf-token")))
      return send(res, 403, { error: "missing or wrong CSRF token" });
    const origin = header(req, "origin");
    if (origin !== undefined && !sameOrigin(origin, opts.trustProxy ? header(req, "host") : undefined))
      return send(res, 403, { error: "cross-origin request refused" });
    if (!(header(req, "content-type") ?? "").startsWith("application/json"))
      return send(res, 415, { error: "send JSON" });
    if (!who.admin) return send(res, 403, { error: `only the ${ADMINS_GROUP} group may do this` });
    const body = await jsonBody(req);
    switch (url.pathname) {
      case "/api/restart": {
        if (typeof body.unit !== "string") throw new InvalidInputError("restart: name a unit");
        const node = typeof body.node === "string" && body.node ? body.node : undefined;
        if (opts.restartByFunction) {
          const r = (await t.invoke("restart", { unit: body.unit, ...(node ? { node } : {}) })) as {
            results: unknown[];
          };
          return send(res, 200, { results: r.results });
        }
        return send(res, 200, {
          results: await unitAction(t, await readView(t), "restart", body.unit, node),
        });
      }
      case "/api/snapshot":
        return send(res, 200, { snapshot: await takeSnapshot(t) });
      default:
        return send(res, 404, { error: "not found" });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const user = e instanceof DevclusterError && e.source === "user";
      if (!res.headersSent)
        send(res, user ? 400 : 500, { error: e instanceof Error ? e.message : String(e) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  self = `${opts.host}:${addr.port}`;
  return {
    url: `http://${self}/`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
