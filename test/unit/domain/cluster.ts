// Builders of etcd members, main instances and node records for the planner tests.
import type { MainInstance } from "../../../functions/domain/membershipPlan.ts";
import type { EtcdMember, NodeRecord } from "../../../functions/domain/model.ts";

/** Instance ids as AWS writes them: `i-` and 17 hex digits. */
export const id = (n: number) => `i-${n.toString(16).padStart(17, "0")}`;
export const ip = (n: number) => `127.9.${Math.floor(n / 250)}.${(n % 250) + 1}`;
export const memberId = (n: number) => String(1000 + n);

export const member = (n: number, o: Partial<EtcdMember> = {}): EtcdMember => ({
  id: memberId(n),
  name: id(n),
  peerUrls: [`http://${ip(n)}:2380`],
  clientUrls: [`http://${ip(n)}:2379`],
  isLearner: false,
  ...o,
});
export const learner = (n: number, o: Partial<EtcdMember> = {}) => member(n, { isLearner: true, ...o });
export const voters = (...ns: number[]) => ns.map((n) => member(n));
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
export const healthyOf = (...ns: number[]): ReadonlySet<string> => new Set(ns.map(memberId));
export const inst = (n: number, lifecycleState = "InService"): MainInstance => ({
  instanceId: id(n),
  ip: ip(n),
  lifecycleState,
});

export const record = (n: number, o: Partial<NodeRecord> = {}): NodeRecord => ({
  instanceId: id(n),
  role: "worker",
  group: "worker",
  zone: "z1",
  privateIp: ip(n),
  state: "active",
  updatedAt: "2026-11-20T00:00:00.000Z",
  ...o,
});

/** The quorum rule stated independently of the planner's formula: the healthy voters are a strict majority. */
export const healthyMajority = (voterCount: number, healthyCount: number) =>
  voterCount > 0 && 2 * healthyCount > voterCount;
