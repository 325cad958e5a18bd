// The real test rig: a moto server and real etcd members on a private loopback block, shared by
// the tests of one file (beforeAll/afterAll), with a fresh namespace per test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { reserveLoopbackBlock, type LoopbackBlock } from "../../local/loopback.ts";
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import {
  assumeRoles,
  makeRoleEvaluable,
  startMoto,
  type AwsCredentials,
  type MotoServer,
} from "../../local/moto.ts";
import { startEtcdCluster, type LocalEtcdCluster } from "../../local/etcd.ts";
import { stopNodeProcessesUnder } from "../../local/node.ts";

export interface Rig {
  block: LoopbackBlock;
  dir: string;
  moto?: MotoServer;
  etcd?: LocalEtcdCluster;
  /** A name no other test in this run uses (for buckets, groups, key prefixes). */
  unique(prefix: string): string;
  /**
   * A new role holding these statements, assumed: its credentials (moto enforces IAM, so they can
   * do exactly what the statements allow, as moto evaluates them).
   */
  roleCredentials(statements: unknown[]): Promise<AwsCredentials>;
}

/**
 * Declare the rig a test file needs. Moto listens on `<block>.1:5000`; etcd members on
 * `<block>.11`, `.12`, ... Set `etcdMembers: 0` for none. Sets the AWS SDK's standard endpoint
 * variables on process.env so code under test finds moto exactly as it finds AWS.
 */
export function useRig(opts: { moto?: boolean; etcdMembers?: number } = {}): Rig {
  const rig = {} as Rig;
  beforeAll(async () => {
    rig.block = reserveLoopbackBlock();
    rig.dir = mkdtempSync(join(tmpdir(), "devcluster-test-"));
    let n = 0;
    rig.unique = (p) => `${p}-${process.pid}-${++n}-${randomBytes(3).toString("hex")}`;
    rig.roleCredentials = async (statements) => {
      const moto = rig.moto!;
      const iam = new IAMClient({ endpoint: moto.endpoint, region: "us-east-1", credentials: moto.admin });
      const name = rig.unique("role").slice(0, 60);
      const role = await iam.send(
        new CreateRoleCommand({
          RoleName: name,
          AssumeRolePolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
            ],
          }),
        }),
      );
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: name,
          PolicyName: "test",
          PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
        }),
      );
      await makeRoleEvaluable(moto, name);
      return (await assumeRoles(moto, { r: role.Role!.Arn! })).r!;
    };
    const work: Promise<void>[] = [];
    if (opts.moto) {
      work.push(
        startMoto({ host: rig.block.address(1), dir: join(rig.dir, "moto") }).then((m) => {
          rig.moto = m;
          Object.assign(process.env, m.env);
        }),
      );
    }
    const size = opts.etcdMembers ?? 0;
    if (size > 0) {
      const ips = Array.from({ length: size }, (_, i) => rig.block.address(11 + i));
      work.push(
        startEtcdCluster({ ips, dir: join(rig.dir, "etcd"), token: rig.unique("tok") }).then((c) => {
          rig.etcd = c;
        }),
      );
    }
    await Promise.all(work);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([rig.moto?.stop(), rig.etcd?.stop(), rig.dir && stopNodeProcessesUnder(rig.dir)]);
    rig.block?.release();
    if (rig.dir) rmSync(rig.dir, { recursive: true, force: true });
  }, 30_000);
  return rig;
}
