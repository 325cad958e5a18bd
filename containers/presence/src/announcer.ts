// Announces one instance on an etcd lease: written in one transaction, kept alive by the caller's
// rhythm (one keep-alive per passed health check), revoked when the instance is unhealthy or stops.
import { EtcdLeaseInvalidError, type Etcd3, type Lease } from "etcd3";
import { announcementKeys, masterKey, type PresenceRecord } from "../../../functions/domain/presence.ts";
import type { Logger } from "../../shared/log.ts";

export class Announcer {
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  private master = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly record: PresenceRecord,
    private readonly opts: { ttl: number; election: boolean; log: Logger },
  ) {}

  get announced() {
    return this.lease !== undefined;
  }
  get isMaster() {
    return this.master;
  }

  /** Called after each passed health check: announce if not announced, else keep the lease alive. */
  async refresh(): Promise<void> {
    if (this.lease) {
      try {
        await this.lease.keepaliveOnce();
      } catch (e) {
        // By class: etcd3's errors do not set `name` (it is "Error"), so a name test never matched and
        // an expired lease (keep-alives late on a loaded node) was retried forever, never re-announced.
        if (e instanceof EtcdLeaseInvalidError) {
          this.opts.log.warn("lease.expired", { code: "lease.expired", lease: this.leaseId });
          this.forget();
        } else throw e;
      }
    }
    if (!this.lease) await this.announce();
    if (this.opts.election && !this.master) await this.campaign();
  }

  private async announce() {
    const lease = this.etcd.lease(this.opts.ttl, { autoKeepAlive: false });
    lease.on("lost", () => undefined); // handled where keep-alives are sent
    let id: string;
    try {
      id = await lease.grant();
    } catch (e) {
      lease.release();
      throw e;
    }
    const rec = { ...this.record, updatedAt: new Date().toISOString() };
    const puts = announcementKeys(rec).map(([k, v]) => this.etcd.put(k).value(v).lease(id));
    try {
      // etcd3 builds a transaction only from a compare: ModRevision > -1 holds for any key.
      await this.etcd
        .if(announcementKeys(rec)[0]![0], "Mod", ">", -1)
        .then(...puts)
        .commit();
    } catch (e) {
      await lease.revoke().catch(() => undefined);
      throw e;
    }
    this.lease = lease;
    this.leaseId = id;
    this.opts.log.info("announced", {
      code: "presence.announced",
      service: rec.service,
      instance: rec.instance,
      lease: id,
      ttl: this.opts.ttl,
    });
  }

  /** Take `/services/<service>/master` if nobody holds it; it lives on this instance's lease. */
  private async campaign() {
    const key = masterKey(this.record.service);
    const rec = { ...this.record, updatedAt: new Date().toISOString() };
    const res = await this.etcd
      .if(key, "Create", "==", 0)
      .then(this.etcd.put(key).value(JSON.stringify(rec)).lease(this.leaseId!))
      .commit();
    if (res.succeeded) {
      this.master = true;
      this.opts.log.info("elected", {
        code: "presence.elected",
        service: rec.service,
        instance: rec.instance,
      });
    }
  }

  /** Remove the announcement at once (revoke the lease: every key on it goes, the master key too). */
  async withdraw(reason: string): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const id = this.leaseId;
    this.forget();
    await lease.revoke();
    this.opts.log.info("withdrawn", { code: "presence.withdrawn", reason, lease: id });
  }

  private forget() {
    this.lease?.release();
    this.lease = undefined;
    this.leaseId = undefined;
    this.master = false;
  }
}
