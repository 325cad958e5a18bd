// The lifecycle and reconcile operations wired to the in-memory fakes: three groups, an etcd cluster,
// a zone and node commands whose etcd start settings start the member in the fake cluster. Operation
// tests run on it in milliseconds; test/integration/operations runs the same operations for real.
import { lifecycleEvent } from "../../local/cluster/events.ts";
import { DEFAULT_TIMING, type LifecycleDeps } from "../../functions/operations/deps.ts";
import { createLogger } from "../../functions/runtime/log.ts";
import { ROLES, etcdUrls, type Role } from "../../functions/domain/model.ts";
import type { LifecycleActionRef, LifecycleActions, LifecycleResult } from "../../functions/ports/index.ts";
import { FakeEtcd } from "./clusterStore.ts";
import { FakeCommands } from "./commands.ts";
import { FakeDns } from "./dns.ts";
import { FakeGroups } from "./groups.ts";

export class FakeActions implements LifecycleActions {
  readonly completions: { ref: LifecycleActionRef; result: LifecycleResult }[] = [];
  heartbeats = 0;
  async complete(ref: LifecycleActionRef, result: LifecycleResult) {
    this.completions.push({ ref, result });
  }
  async heartbeat() {
    this.heartbeats++;
  }
}

export interface FakeWorld {
  deps: LifecycleDeps;
  etcd: FakeEtcd;
  groups: FakeGroups;
  dns: FakeDns;
  commands: FakeCommands;
  actions: FakeActions;
  names: Record<Role, string>;
  event(kind: "launch" | "terminate", role: Role, instanceId: string): unknown;
  ipOf(instanceId: string): string;
}

export function fakeWorld(
  opts: { timing?: Partial<LifecycleDeps["timing"]>; etcdTls?: boolean } = {},
): FakeWorld {
  const groups = new FakeGroups({ prefix: "127.0.0", cluster: "fake" });
  const names = { main: "fake-main", worker: "fake-worker", data: "fake-data" } as Record<Role, string>;
  for (const role of ROLES) groups.createGroup(names[role], role);
  const etcd = new FakeEtcd([], opts.etcdTls ?? false);
  const ipOf = (id: string) => groups.instances.get(id)!.privateIp;
  // What the node does with its start settings: `new` starts a member of the new cluster, `existing`
  // starts the learner that was added at the node's address.
  const commands = new FakeCommands((req, id) => {
    if (req.comment.includes("etcd start settings (new)") && !etcd.members.some((m) => m.name === id)) {
      etcd.startVoter(id, ipOf(id));
    } else if (req.comment.includes("etcd start settings (existing)")) {
      const m = etcd.members.find((x) => x.peerUrls.includes(etcdUrls(etcd.tls).peer(ipOf(id))));
      if (m && !m.name) etcd.startLearner(m.id, id);
    }
    return { status: "Success", exitCode: 0, stdout: "", stderr: "" };
  });
  const dns = new FakeDns();
  const actions = new FakeActions();
  const deps: LifecycleDeps = {
    clusterName: "fake",
    etcdTls: opts.etcdTls ?? false,
    domain: "fake.test.internal",
    groupNames: names,
    groups,
    actions,
    commands,
    dns,
    store: (endpoints) => etcd.store(endpoints),
    timing: {
      ...DEFAULT_TIMING,
      promoteWaitMs: 500,
      ownPromoteWaitMs: 1000,
      noQuorumGraceMs: 10,
      memberStartWaitMs: 500,
      bootstrapWaitMs: 500,
      lockWaitMs: 500,
      dnsDeadlineMs: 2000,
      ...opts.timing,
    },
    now: () => new Date(),
  };
  return {
    deps,
    etcd,
    groups,
    dns,
    commands,
    actions,
    names,
    ipOf,
    event: (kind, role, instanceId) =>
      lifecycleEvent({
        kind,
        groupName: names[role],
        hookName: `${kind}-hook`,
        instanceId,
        region: "us-east-1",
      }),
  };
}

/** The logger operations get in fake-world tests: silent. */
export const quietLog = createLogger({}, () => {});
