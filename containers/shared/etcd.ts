// The node programs' etcd access: one client from ETCD_ENDPOINTS, and a prefix follower that
// re-reads the prefix after each burst of changes (watching only that prefix, never all of etcd).
import { Etcd3 } from "etcd3";
import type { Logger } from "./log.ts";

export function etcdClient(endpoints: string[]): Etcd3 {
  return new Etcd3({ hosts: endpoints, dialTimeout: 3000 });
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
