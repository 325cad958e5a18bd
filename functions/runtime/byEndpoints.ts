// One client per etcd endpoint set, kept across warm invocations; when the set changes the old client
// is replaced and closed only after calls still in flight are done (handlers running side by side in
// one process, as the local cluster runs them, may still hold it).
export const CLOSE_REPLACED_AFTER_MS = 60_000;

export function byEndpoints<T>(make: (endpoints: string[]) => T, close: (client: T) => void) {
  let cur: { key: string; client: T } | undefined;
  const all = new Set<T>();
  const get = (endpoints: string[]): T => {
    const key = [...new Set(endpoints)].sort().join(",");
    if (cur?.key !== key) {
      const old = cur?.client;
      if (old !== undefined) {
        setTimeout(() => {
          close(old);
          all.delete(old);
        }, CLOSE_REPLACED_AFTER_MS).unref();
      }
      cur = { key, client: make(endpoints) };
      all.add(cur.client);
    }
    return cur.client;
  };
  return Object.assign(get, {
    /** Close every client made (tests, and a process that is done). */
    closeAll() {
      for (const c of all) close(c);
      all.clear();
      cur = undefined;
    },
  });
}
