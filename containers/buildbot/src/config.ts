// What the Buildbot programs hand to Buildbot (pure): the parameter names of the worker passwords,
// the worker list, the master's settings file (read by master.cfg) and the worker's (read by its
// buildbot.tac), and which callers the web gate lets through.
import { isIPv4 } from "node:net";

/** A worker's name: what it logs in as, a path segment of its parameter, a builder's worker. */
export const WORKER_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * The SSM parameter (SecureString) of a worker's password: below db/, where services keep the secrets
 * they make (the node role may write there), made once by the master.
 */
export const workerPasswordParameter = (cluster: string, worker: string) =>
  `/devcluster/${cluster}/db/buildbot/workers/${worker}/password`;

/** `WORKERS`: names, comma-separated, each once. */
export function parseWorkers(text: string): string[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !WORKER_NAME.test(n));
  if (bad.length) throw new Error(`not worker names (a-z, 0-9, -): ${bad.join(", ")}`);
  if (!names.length) throw new Error("no worker named");
  return [...new Set(names)];
}

/** The kind of machine a worker is, from its name: `win...` workers are the team's Windows VMs. */
export const workerKind = (name: string): "windows" | "linux" =>
  name.startsWith("win") ? "windows" : "linux";

/** A password Buildbot's PB login and SQLAlchemy's URL take as they are (no quoting games). */
export const PASSWORD = /^[A-Za-z0-9_\-+/=.~]{24,256}$/;

export interface MasterSettings {
  title: string;
  /** The address users reach, for the links Buildbot makes. */
  url: string;
  /** SQLAlchemy's URL of the master's database (holds its password: the file is 0600). */
  dbUrl: string;
  /** Twisted endpoint strings. */
  workerPort: string;
  wwwPort: string;
  workers: { name: string; password: string; kind: "windows" | "linux" }[];
}

export function masterSettings(o: {
  domain: string;
  db: { host: string; port: number; name: string; user: string; password: string };
  worker: { address: string; port: number };
  www: { address: string; port: number };
  workers: { name: string; password: string }[];
}): MasterSettings {
  for (const [what, v] of [
    ["database host", o.db.host],
    ["worker address", o.worker.address],
    ["web address", o.www.address],
  ] as const)
    if (!/^[A-Za-z0-9.-]+$/.test(v))
      throw new Error(`${what}: not a host name or address: ${JSON.stringify(v)}`);
  const pw = [o.db.password, ...o.workers.map((w) => w.password)];
  if (pw.some((p) => !PASSWORD.test(p)))
    throw new Error("a password is not 24-256 of A-Z a-z 0-9 _ - + / = . ~");
  return {
    title: `${o.domain} builds`,
    url: `https://buildbot.${o.domain}/`,
    dbUrl: `postgresql+psycopg2://${o.db.user}:${encodeURIComponent(o.db.password)}@${o.db.host}:${o.db.port}/${o.db.name}`,
    workerPort: `tcp:${o.worker.port}:interface=${o.worker.address}`,
    wwwPort: `tcp:${o.www.port}:interface=${o.www.address}`,
    workers: o.workers.map((w) => ({ ...w, kind: workerKind(w.name) })),
  };
}

export interface WorkerSettings {
  host: string;
  port: number;
  name: string;
  password: string;
  basedir: string;
}

/**
 * Who may talk to the web UI's port: the announced front doors (they strip X-Remote-User from
 * outside and set it), and the node itself (presence's health check; anything on the node could
 * reach Buildbot's own loopback port anyway).
 */
export function callerAllowed(
  address: string | undefined,
  self: string,
  isFrontDoor: (a: string) => boolean,
) {
  if (!address) return false;
  const a = address.startsWith("::ffff:") ? address.slice(7) : address;
  if (!isIPv4(a)) return false;
  // 127.0.0.1 is where a connection to the node's own address comes from on loopback (a local
  // cluster's nodes are 127.x addresses); no other loopback address stands for the node.
  return a === self || a === "127.0.0.1" || isFrontDoor(a);
}
