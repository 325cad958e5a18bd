// The node programs' etcd access: one client from ETCD_ENDPOINTS (over TLS with the node's
// certificate when the endpoints are https), and a prefix follower that re-reads the prefix after
// each burst of changes (watching only that prefix, never all of etcd).
import { readFileSync } from "node:fs";
import { Etcd3 } from "etcd3";
import { ConfigError } from "../../functions/domain/errors.ts";
import type { Logger } from "./log.ts";

/** Where a program finds the node's etcd TLS files (the node's PKI directory, mounted read-only). */
export interface EtcdTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * ETCD_CA_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE: all three or none (a client certificate without
 * its CA, or the reverse, is a unit written wrong, never something to guess around).
 */
export function etcdTlsFromEnv(env: NodeJS.ProcessEnv = process.env): EtcdTlsFiles | undefined {
  const names = ["ETCD_CA_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE"] as const;
  const set = names.filter((n) => env[n]);
  if (set.length === 0) return undefined;
  if (set.length < names.length)
    throw new ConfigError(
      `invalid or missing configuration: ${names.filter((n) => !env[n]).join(", ")} required with ${set.join(", ")}`,
    );
  return { caFile: env.ETCD_CA_FILE!, certFile: env.ETCD_CERT_FILE!, keyFile: env.ETCD_KEY_FILE! };
}

/**
 * A client of `endpoints`: https endpoints need the TLS files (the members require a client
 * certificate from the cluster CA, whose CN is the etcd user), http ones refuse them (a certificate
 * that would silently go unused hides a plain-text cluster).
 */
export function etcdClient(endpoints: string[], tls?: EtcdTlsFiles): Etcd3 {
  const secure = endpoints.filter((e) => e.startsWith("https://"));
  if (secure.length && secure.length < endpoints.length)
    throw new ConfigError(`ETCD_ENDPOINTS mixes https and http: ${endpoints.join(",")}`);
  if (secure.length && !tls)
    throw new ConfigError("https ETCD_ENDPOINTS need ETCD_CA_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE");
  if (!secure.length && tls)
    throw new ConfigError("ETCD_CA_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE need https ETCD_ENDPOINTS");
  if (!tls) return new Etcd3({ hosts: endpoints, dialTimeout: 3000 });
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ConfigError(`cannot read the etcd ${what} ${file}: ${(e as Error).message}`);
    }
  };
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 3000,
    credentials: {
      rootCertificate: read("CA certificate", tls.caFile),
      certChain: read("client certificate", tls.certFile),
      privateKey: read("client key", tls.keyFile),
    },
  });
}

export interface PrefixFollower {
  /** Resolves after the first successful read has been handed to `onChange`. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Follow `prefix`: call `onChange` with every key under it (key -> value) once at start and again
 * after each burst of changes (changes within `debounceMs` are read once). Reads never overlap: a
 * change during a read schedules one more. A failed read is retried every `retryMs`. The watch
 * only reports changes made after it is established, so a read follows its creation and every
 * re-connection: a change made between an earlier read and the watch's start is never missed.
 */
export function followPrefix(
  etcd: Etcd3,
  prefix: string,
  onChange: (kvs: Record<string, string>) => void | Promise<void>,
  opts: { debounceMs: number; log: Logger; retryMs?: number },
): PrefixFollower {
  const retryMs = opts.retryMs ?? 1000;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let reading = false;
  let again = false;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));

  const read = async () => {
    if (closed) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      const kvs = await etcd.getAll().prefix(prefix).strings();
      if (!closed) await onChange(kvs);
      resolveReady();
    } catch (e) {
      opts.log.warn("etcd.read_failed", { prefix, error: e instanceof Error ? e.message : String(e) });
      schedule(retryMs);
    } finally {
      reading = false;
      if (again && !closed) {
        again = false;
        schedule(opts.debounceMs);
      }
    }
  };
  const schedule = (ms: number) => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void read();
    }, ms);
  };

  const watcherP = etcd
    .watch()
    .prefix(prefix)
    .create()
    .then((w) => {
      // `create()` resolves on the watch's first "connected", before a listener could see it.
      schedule(0);
      w.on("put", () => schedule(opts.debounceMs));
      w.on("delete", () => schedule(opts.debounceMs));
      w.on("connected", () => schedule(opts.debounceMs));
      w.on("disconnected", (e) => opts.log.warn("etcd.watch_disconnected", { prefix, error: e.message }));
      w.on("error", (e) => opts.log.warn("etcd.watch_error", { prefix, error: e.message }));
      return w;
    });
  watcherP.catch((e: unknown) =>
    opts.log.warn("etcd.watch_failed", { prefix, error: e instanceof Error ? e.message : String(e) }),
  );
  void read();

  return {
    ready,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const w = await watcherP.catch(() => undefined);
      await w?.cancel().catch(() => undefined);
    },
  };
}
