// The API proxy's routes: what an `ApiRoute=` line of the catalog declares (upstream, how the
// purchased key is applied, who may call it, cache lifetime, per-user rate), parsed and checked.
import { isIPv4 } from "node:net";
import { GROUP_NAME } from "./presence.ts";

export interface ApiRoute {
  /** The route's name: the first path segment callers use (`/<name>/...`) and its key's SSM name. */
  name: string;
  /** The upstream's base URL, without a query or fragment; a caller's path is appended to it. */
  upstream: string;
  /** Where the key goes: a request header, or a query parameter. */
  key: { in: "header" | "query"; name: string };
  /** Groups whose members may call it (X-Remote-Groups from the front door). */
  groups: string[];
  /** How long a successful GET answer is served from the cache; 0 = never cached. */
  ttlSeconds: number;
  /** Calls one user may make in `rate.windowSeconds`. */
  rate: { limit: number; windowSeconds: number };
}

export const ROUTE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const QUERY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Headers the proxy sets or drops itself: a key must not replace them. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "cookie",
  "accept",
  "accept-encoding",
]);
const DEFAULT_TTL = 60;
const MAX_TTL = 86_400;
const DEFAULT_RATE = { limit: 60, windowSeconds: 60 };
const WINDOWS: Record<string, number> = { s: 1, min: 60, h: 3600 };

/** The SSM parameter (SecureString) of a route's purchased key. */
export const apiKeyParameterName = (cluster: string, route: string) =>
  `/devcluster/${cluster}/api/${route}/key`;

/**
 * Plain http only to a loopback address (a test or a local fake): anything else would send the
 * purchased key in clear over the network.
 */
function checkUpstream(raw: string): string | { url: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `upstream '${raw}' is not a URL`;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    return `upstream '${raw}' must be https:// (got ${u.protocol})`;
  const loopback = isIPv4(u.hostname) && u.hostname.startsWith("127.");
  if (u.protocol === "http:" && !loopback)
    return `upstream '${raw}' must be https:// (plain http only to a 127.x address): the key would travel in clear`;
  if (u.username || u.password) return `upstream '${raw}' must not carry credentials`;
  if (u.search || u.hash) return `upstream '${raw}' must not have a query or fragment`;
  if (/['"\\\s%]/.test(raw)) return `upstream '${raw}' has a character that needs quoting`;
  return { url: raw.replace(/\/+$/, "") };
}

/**
 * Parse one `ApiRoute=` value:
 * `<name> <upstream> header:<Name>|query:<param> groups=<g>[,<g>...] [ttl=<seconds>] [rate=<n>/<s|min|h>]`.
 * Returns the route, or the problems found (each a sentence naming the bad part).
 */
export function parseApiRoute(value: string): ApiRoute | string[] {
  const words = value.trim().split(/\s+/).filter(Boolean);
  const problems: string[] = [];
  const usage =
    "ApiRoute= takes <name> <upstream URL> header:<Name>|query:<param> groups=<g,...> [ttl=<seconds>] [rate=<n>/<s|min|h>]";
  if (words.length < 4) return [`${usage}, not '${value.trim()}'`];
  const [name, upstreamRaw, placement, ...options] = words as [string, string, string, ...string[]];
  if (!ROUTE_NAME.test(name)) problems.push(`route name '${name}' must be a DNS label (a-z, 0-9, '-')`);
  const upstream = checkUpstream(upstreamRaw);
  if (typeof upstream === "string") problems.push(upstream);
  let key: ApiRoute["key"] | undefined;
  const pm = /^(header|query):(.+)$/.exec(placement);
  if (!pm) problems.push(`key placement '${placement}' must be header:<Name> or query:<param>`);
  else if (pm[1] === "header") {
    if (!HEADER_NAME.test(pm[2]!)) problems.push(`'${pm[2]}' is not a header name`);
    else if (RESERVED_HEADERS.has(pm[2]!.toLowerCase()) || /^x-remote-/i.test(pm[2]!))
      problems.push(`header '${pm[2]}' is set by the proxy itself; name the header the API expects`);
    else key = { in: "header", name: pm[2]! };
  } else if (!QUERY_NAME.test(pm[2]!)) problems.push(`'${pm[2]}' is not a query parameter name`);
  else key = { in: "query", name: pm[2]! };
  let groups: string[] | undefined;
  let ttlSeconds = DEFAULT_TTL;
  let rate = DEFAULT_RATE;
  const seen = new Set<string>();
  for (const o of options) {
    const m = /^([a-z]+)=(.*)$/.exec(o);
    if (!m || !["groups", "ttl", "rate"].includes(m[1]!)) {
      problems.push(`unknown option '${o}' (known: groups=, ttl=, rate=)`);
      continue;
    }
    const [, k, v] = m as unknown as [string, string, string];
    if (seen.has(k)) problems.push(`${k}= is given twice`);
    seen.add(k);
    if (k === "groups") {
      groups = v.split(",").filter(Boolean);
      if (!groups.length) problems.push("groups= names no group");
      for (const g of groups) if (!GROUP_NAME.test(g)) problems.push(`'${g}' is not a group name`);
    } else if (k === "ttl") {
      if (!/^\d+$/.test(v) || Number(v) > MAX_TTL)
        problems.push(`ttl=${v}: give seconds 0..${MAX_TTL} (0 = never cached)`);
      else ttlSeconds = Number(v);
    } else {
      const r = /^(\d+)\/(s|min|h)$/.exec(v);
      if (!r || Number(r[1]) < 1 || Number(r[1]) > 1_000_000)
        problems.push(`rate=${v}: give <calls 1..1000000>/<s|min|h>, e.g. rate=60/min`);
      else rate = { limit: Number(r[1]), windowSeconds: WINDOWS[r[2]!]! };
    }
  }
  // No default audience: a route's key is bought money, and who may spend it is a decision.
  if (!groups) problems.push("groups= is required (which groups may call the route)");
  if (problems.length || !key || !groups || typeof upstream === "string") return problems;
  return { name, upstream: upstream.url, key, groups, ttlSeconds, rate };
}

/** Parse every route; names must be unique. Problems come back prefixed with their index. */
export function parseApiRoutes(values: { value: string; at: string }[]): ApiRoute[] | string[] {
  const routes: ApiRoute[] = [];
  const problems: string[] = [];
  for (const { value, at } of values) {
    const r = parseApiRoute(value);
    if (Array.isArray(r)) problems.push(...r.map((p) => `${at}: ${p}`));
    else if (routes.some((x) => x.name === r.name))
      problems.push(`${at}: route '${r.name}' is declared twice`);
    else routes.push(r);
  }
  return problems.length ? problems : routes;
}

/**
 * The routes as one environment value (what the proxy's container receives): the `ApiRoute=` lines,
 * one per line, base64url-encoded so that no shell, env file or unit line splits or quotes it; the
 * proxy re-checks each with the same parser.
 */
export const encodeApiRoutes = (values: string[]) =>
  Buffer.from(values.map((v) => v.trim().split(/\s+/).join(" ")).join("\n")).toString("base64url");

export function decodeApiRoutes(text: string): ApiRoute[] | string[] {
  if (!/^[A-Za-z0-9_-]*$/.test(text.trim()))
    return ["API_ROUTES is not base64url (the units push writes it from the ApiRoute= lines)"];
  return parseApiRoutes(
    Buffer.from(text.trim(), "base64url")
      .toString("utf8")
      .split("\n")
      .filter((v) => v.trim())
      .map((value, i) => ({ value, at: `route ${i + 1}` })),
  );
}
