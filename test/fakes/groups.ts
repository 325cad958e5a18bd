// In-memory Auto Scaling groups and EC2 instances (the Groups port), for operation tests.
// test/integration/contracts/groups.test.ts runs the same suite against it and moto.
import type { GroupInfo, InstanceInfo, Role } from "../../functions/domain/model.ts";
import type { Groups } from "../../functions/ports/index.ts";

export class FakeGroups implements Groups {
  readonly groups = new Map<string, GroupInfo>();
  readonly instances = new Map<string, InstanceInfo>();
  private n = 0;

  constructor(
    private readonly opts: { prefix: string; zone?: string; cluster?: string } = { prefix: "127.0.0" },
  ) {}

  createGroup(name: string, role: Role, max = 200): void {
    this.groups.set(name, { name, role, desired: 0, min: 0, max, members: [] });
  }

  /** Sets the desired size; new instances start InService and running; returns their ids. */
  scaleTo(name: string, desired: number): string[] {
    const g = this.groups.get(name)!;
    g.desired = desired;
    const fresh: string[] = [];
    while (g.members.filter((m) => m.lifecycleState !== "Terminating").length < desired) {
      const id = `i-${(++this.n).toString(16).padStart(17, "0")}`;
      const zone = this.opts.zone ?? "us-east-1a";
      g.members.push({ instanceId: id, lifecycleState: "InService", healthStatus: "Healthy", zone });
      this.instances.set(id, {
        instanceId: id,
        privateIp: `${this.opts.prefix}.${10 + this.n}`,
        zone,
        state: "running",
        clusterTag: this.opts.cluster,
      });
      fresh.push(id);
    }
    return fresh;
  }

  /** Terminates an instance and lowers the desired size, as TerminateInstanceInAutoScalingGroup does. */
  terminate(name: string, instanceId: string): void {
    const g = this.groups.get(name)!;
    g.members = g.members.filter((m) => m.instanceId !== instanceId);
    g.desired = Math.max(0, g.desired - 1);
    const i = this.instances.get(instanceId);
    if (i) i.state = "terminated";
  }

  async describeGroups(names: string[]): Promise<GroupInfo[]> {
    return names.flatMap((n) => {
      const g = this.groups.get(n);
      return g ? [{ ...g, members: g.members.map((m) => ({ ...m })) }] : [];
    });
  }

  async describeInstances(ids: string[]): Promise<InstanceInfo[]> {
    return ids.flatMap((id) => {
      const i = this.instances.get(id);
      return i ? [{ ...i }] : [];
    });
  }
}
