// The front doors a service behind them trusts: the addresses presence announces for the front
// door's service, followed in etcd. Until they are first read no address is trusted, so every
// request is refused rather than taken from anyone.
import type { Etcd3 } from "etcd3";
import { parsePresence, servicePrefix } from "../../functions/domain/presence.ts";
import { followPrefix } from "./etcd.ts";
import type { Logger } from "./log.ts";

export interface FrontDoors {
  /** Whether `address` is an announced front door's private address now. */
  has(address: string): boolean;
  close(): Promise<void>;
}

export function followFrontDoors(
  etcd: Etcd3,
  service: string,
  opts: { debounceMs: number; log: Logger; onChange?: (addresses: string[]) => void },
): FrontDoors {
  let doors = new Set<string>();
  const follower = followPrefix(
    etcd,
    servicePrefix(service),
    (kvs) => {
      const next = new Set(
        (parsePresence(kvs).services.get(service)?.instances ?? []).map((i) => i.privateIp),
      );
      const changed = [...next].sort().join() !== [...doors].sort().join();
      if (changed) opts.log.info("front_doors", { code: "front_doors", addresses: [...next].sort() });
      doors = next;
      if (changed) opts.onChange?.([...next].sort());
    },
    opts,
  );
  return { has: (address) => doors.has(address), close: () => follower.close() };
}
