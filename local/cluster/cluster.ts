// The local cluster's operations: up, scale, kill, snapshot, restore, reconcile, status, down.
// Each drives the real handlers against moto and real etcd members, as AWS would drive them.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createConnection } from "node:net";
import { join, resolve } from "node:path";
import {
  AutoScalingClient,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import { Route53Client } from "@aws-sdk/client-route-53";
import { EC2Client } from "@aws-sdk/client-ec2";
import { resolveOptions } from "../../cloudformation/options.ts";
import {
  DevclusterError,
  InvalidInputError,
  NotFoundError,
  RefusedError,
} from "../../functions/domain/errors.ts";
import { ROLES, type Role } from "../../functions/domain/model.ts";
import { awsGroups } from "../../functions/adapters/aws/groups.ts";
import { ec2Volumes } from "../../functions/adapters/aws/ec2Volumes.ts";
import { ec2VolumeSnapshots } from "../../functions/adapters/aws/ec2VolumeSnapshots.ts";
import { startMoto } from "../moto.ts";
import { killLocalNode, localFileDropSender, nodeDir, stopNodeProcessesUnder } from "../node.ts";
import { ETCD_MEMBER_UNIT_NAME } from "../../functions/domain/firstBoot.ts";
import { ETCD_BIN, MOTO_SERVER, PROJECT_ROOT } from "../paths.ts";
import { pidAlive, readPidFile, stopPidFile, waitUntil } from "../processes.ts";
import { deliverChanges, observeGroups, type Progress } from "./driver.ts";
import { loadFunctions, localEnv, stopFunctions } from "./functions.ts";
import {
  cachedPackage,
  deployedRoleCredentials,
  deployToMoto,
  handlerEnvironment,
  LOCAL_STACK,
} from "./deploy.ts";
import { collectStatus, type ClusterStatus } from "./status.ts";
import { localEtcdTls } from "./etcdTls.ts";
import { isRunning, motoPidPath, readState, writeState, type LocalState } from "./state.ts";
import { attach, liveNodeProcesses, requireState } from "./attach.ts";
import { startFunctionsHost, stopFunctionsHost } from "./functionsHost.ts";
import { HOOKS } from "../../cloudformation/ids.ts";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { ensureUserPool } from "../../functions/adapters/aws/cognitoPool.ts";
import { ensureSessionKey } from "../../functions/adapters/aws/ssmSessionKey.ts";
import { SSMClient } from "@aws-sdk/client-ssm";
import { SESClient, VerifyEmailIdentityCommand } from "@aws-sdk/client-ses";
import { publishImages } from "../../functions/adapters/aws/ssmPublishedImages.ts";
import { buildImages } from "../images.ts";
import { imagesOf } from "../../functions/domain/images.ts";
import { CATALOG_DIR, readCatalogDir, readTeamDir } from "../../functions/catalog/index.ts";
import {
  parseServiceSelection,
  selectedServiceNames,
  type ServiceSelection,
} from "../../functions/domain/units/services.ts";
import { loadCatalog } from "../../functions/domain/units/catalog.ts";
import { storeFrontDoorTls } from "./frontDoorTls.ts";
import type { UnitsReport } from "../../functions/operations/units.ts";

// Attaching to a running cluster lives in attach.ts (light: the operator's commands load only it).
export { attach, liveNodeProcesses, requireState };

/** The local cluster's /16 (127.A): moto at 127.A.0.1, instances from the VPC's subnets. */
/** Workers and data nodes a local group may hold (up and scale alike): each node is processes on this machine. */
export const LOCAL_GROUP_MAX = 50;

export const LOCAL_PREFIX = "127.77";

export interface UpOptions {
  main: number;
  workers: number;
  data: number;
  clusterName?: string;
  /** `127.A`: the loopback /16 of this cluster (default 127.77). */
  prefix?: string;
  /** moto enforces IAM (default); off only to measure what enforcement costs (bench/iam.ts). */
  iam?: boolean;
  /**
   * The front door serves HTTPS for `*.<domain>` (HTTP then only redirects), with a certificate from
   * a CA made for this cluster: what a browser needs for the sign-in's Secure session cookie.
   */
  frontDoorTls?: boolean;
  /**
   * The team's services (functions/catalog/team/) this cluster runs: "all", "none" (the default: the
   * default catalog alone) or names; the stack's `services` setting, as `sls deploy --param` sets it.
   */
  services?: string;
  /**
   * etcd with TLS and client certificates on client and peer traffic and the nodes' roles enforced
   * (the stack's `etcdTls` setting): the members, the control plane, every node's etcd-amb and the
   * operator's tools (status) speak TLS. `devcluster local up` and `demo` turn it on unless told
   * `--plain-etcd`, as the stack does; here it stays off unless given, for the tests and benches that
   * reach the members with a plain client of their own.
   */
  etcdTls?: boolean;
}

export function ensureInstalled(progress: Progress) {
  if (existsSync(ETCD_BIN) && existsSync(MOTO_SERVER) && existsSync(join(PROJECT_ROOT, "node_modules")))
    return;
  progress("installing what is missing (scripts/install-deps.sh)");
  execFileSync("bash", [join(PROJECT_ROOT, "scripts", "install-deps.sh")], { stdio: "inherit" });
}

/** The groups of the cluster the environment points at now (fresh clients: one process may drive two). */
const groupsNow = () => awsGroups({ autoscaling: new AutoScalingClient({}), ec2: new EC2Client({}) });

/** Addresses and zones of instances, from EC2 (moto). */
const describeNodes = async (ids: string[]) =>
  new Map(
    (await groupsNow().describeInstances(ids)).map((i) => [
      i.instanceId,
      { address: i.privateIp, zone: i.zone },
    ]),
  );

/**
 * Push a catalog to the running cluster through the `units` function (the handler the Lambda runs),
 * as `sls invoke -f units --data '{"catalog": ...}'` would: validated here first, so a bad catalog is
 * refused with every `file:line: reason` before the cluster is touched. `dryRun`: plan only.
 */
/**
 * A catalog folder read and validated for a push (every problem at once, nothing touched): a
 * catalog is the whole cluster, so one without etcd's own unit is refused (it would stop etcd on
 * every main node).
 */
export function readCatalogForPush(
  catalogDir: string | undefined,
  cmd: string,
  services: ServiceSelection = [],
): { catalog: string; source: Record<string, string> } {
  const catalog = resolve(catalogDir ?? CATALOG_DIR);
  if (!existsSync(catalog) || !statSync(catalog).isDirectory())
    throw new InvalidInputError(`${cmd}: no catalog directory at ${catalog}`);
  // The team's services as the cluster's deployed `services` setting selects them, as its functions read them.
  const source = readCatalogDir(catalog, services);
  if (!source[ETCD_MEMBER_UNIT_NAME])
    throw new InvalidInputError(
      `${cmd}: ${catalog} has no ${ETCD_MEMBER_UNIT_NAME}; a catalog declares every unit of the cluster (copy functions/catalog/ and add yours), and pushing this one would stop etcd on every main node`,
    );
  loadCatalog(source);
  return { catalog, source };
}

export async function pushUnits(
  dir: string,
  opts: { catalogDir?: string; dryRun?: boolean; confirm?: boolean } = {},
): Promise<{ catalog: string; report: UnitsReport }> {
  const { catalog, source } = readCatalogForPush(
    opts.catalogDir,
    "units",
    // Before the cluster is touched (no state: attach below says so).
    parseServiceSelection(readState(dir)?.functionEnv.SERVICES ?? ""),
  );
  const { fns } = await attach(dir);
  const report = (await fns.units({
    catalog: source,
    dryRun: Boolean(opts.dryRun),
    ...(opts.confirm ? { confirm: true } : {}),
  })) as UnitsReport;
  return { catalog, report };
}

export async function up(dir: string, opts: UpOptions, progress: Progress): Promise<LocalState> {
  if (opts.main < 3 || opts.main > 9 || opts.main % 2 === 0) {
    throw new InvalidInputError(`--main must be odd, from 3 to 9 (got ${opts.main})`);
  }
  for (const [k, v] of [
    ["workers", opts.workers],
    ["data", opts.data],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > LOCAL_GROUP_MAX)
      throw new InvalidInputError(`--${k} must be 0 to ${LOCAL_GROUP_MAX} (got ${v})`);
  }
  if (isRunning(dir)) {
    throw new RefusedError(
      `a local cluster already runs (state in ${dir}); 'npx devcluster local down' stops it ('npx devcluster local units' pushes a changed catalog to it)`,
    );
  }
  const prefix = opts.prefix ?? LOCAL_PREFIX;
  if (!/^127\.(\d{1,3})$/.test(prefix) || Number(prefix.split(".")[1]) > 255) {
    throw new InvalidInputError(`prefix must be 127.A (got ${prefix})`);
  }
  const motoHost = `${prefix}.0.1`;
  if (await listening(motoHost, 5000)) {
    // Another cluster (another --dir) uses this /16: its moto would answer in place of ours.
    throw new RefusedError(
      `${motoHost}:5000 is in use: another local cluster runs on ${prefix}.0.0/16; pick another --prefix (127.70 to 127.99)`,
    );
  }
  // Checked before anything starts: a name no team service has is refused with the names there are.
  const services = opts.services ?? "none";
  const selection = parseServiceSelection(services);
  const selected = selectedServiceNames(readTeamDir(), selection);
  ensureInstalled(progress);
  if (existsSync(dir)) {
    // What a crashed cluster left: its processes are stopped and its directory kept aside.
    await down(dir, (l) => progress(`previous state: ${l}`));
    const aside = `${dir}.previous`;
    rmSync(aside, { recursive: true, force: true });
    renameSync(dir, aside);
    progress(`moved the previous state in ${dir} aside to ${aside} (replacing any older one)`);
  }
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  if (selected.length) progress(`the team's services: ${selected.join(", ")}`);
  // The images the catalog runs build (or are reused) while moto and the stack come up; launches wait.
  const images = buildImages((line) => progress(line), imagesOf(readCatalogDir(CATALOG_DIR, selection)));
  images.catch(() => {}); // awaited below; a failure is reported there

  // The service as `sls deploy` ships it to AWS, with this cluster's settings: a loopback VPC block
  // (its instances get addresses etcd binds on this machine) and the group sizes asked for.
  const clusterName = opts.clusterName ?? "dev";
  const synthOptions = resolveOptions({ clusterName, vpcCidr: `${prefix}.0.0/16`, mainSize: opts.main });
  const pkg = await cachedPackage(
    {
      cluster: clusterName,
      domain: synthOptions.clusterDomain,
      vpcCidr: synthOptions.vpcCidr,
      mainSize: opts.main,
      workerMin: 0,
      workerMax: LOCAL_GROUP_MAX,
      workerDesired: opts.workers,
      dataSize: opts.data,
      services,
      etcdTls: String(opts.etcdTls ?? false),
    },
    progress,
  );
  progress(
    pkg.work === "none"
      ? `package ${pkg.key} (cached)`
      : `packaged in ${(pkg.ms / 1000).toFixed(1)} s (${pkg.work})`,
  );

  progress(`starting moto (the AWS API) at http://${motoHost}:5000`);
  const moto = await startMoto({
    host: motoHost,
    port: 5000,
    dir,
    pidFile: motoPidPath(dir),
    iam: opts.iam ?? true,
  });
  Object.assign(process.env, moto.env);
  if (!moto.iam) delete process.env.AWS_SESSION_TOKEN;
  progress(`sls deploy (cluster and functions, one stack) to moto${moto.iam ? " (IAM enforced)" : ""}`);
  const stack = await deployToMoto({ pkg, env: moto.env });
  progress(
    `deployed ${LOCAL_STACK} in ${(stack.deployMs / 1000).toFixed(1)} s (${Object.keys(stack.resources).length} resources)`,
  );
  const credentials = await deployedRoleCredentials(moto, stack);
  // moto's CloudFormation skips the template's Cognito resources: the same pool, groups and app
  // client are made through the cognito-idp API; the session key as `devcluster users session-key` does.
  const userPool = await ensureUserPool(new CognitoIdentityProviderClient({}), clusterName);
  await ensureSessionKey(new SSMClient({}), clusterName);
  // SES sends only from a verified identity: the operator verifies the file drop's sender once per
  // account and region (docs/OPERATIONS.md), here with the same call against moto's SES.
  await new SESClient({}).send(
    new VerifyEmailIdentityCommand({ EmailAddress: localFileDropSender(synthOptions.clusterDomain) }),
  );
  const frontDoorTls = opts.frontDoorTls
    ? await storeFrontDoorTls(dir, clusterName, synthOptions.clusterDomain)
    : undefined;
  const out = (k: string) => {
    const v = stack.outputs[k];
    if (!v) throw new DevclusterError(`stack output ${k} is missing`);
    return v;
  };
  const state: LocalState = {
    version: 3,
    clusterName,
    domain: synthOptions.clusterDomain,
    prefix,
    motoEndpoint: moto.endpoint,
    stackName: LOCAL_STACK,
    packageKey: pkg.key,
    zoneId: out("PrivateZoneId").replace(/^\/hostedzone\//, ""),
    userPool,
    bucket: out("SnapshotBucketName"),
    ...(frontDoorTls ? { frontDoorTls } : {}),
    groups: { main: out("MainGroupName"), worker: out("WorkerGroupName"), data: out("DataGroupName") },
    hooks: Object.fromEntries(ROLES.map((r) => [r, { launch: HOOKS.launch, terminate: HOOKS.terminate }])),
    functions: Object.fromEntries(
      Object.entries(stack.functions).map(([fn, f]) => [fn, { name: f.name, role: f.role }]),
    ),
    functionEnv: handlerEnvironment(stack.functions),
    iam: moto.iam,
    admin: moto.admin,
    credentials,
    createdAt: new Date().toISOString(),
  };
  writeState(dir, state);
  startFunctionsHost(dir);
  // The operator's side of this process (status, the stand-in for Auto Scaling) reads the settings too.
  Object.assign(process.env, localEnv(dir, state));
  const fns = await loadFunctions(dir, state);
  const built = await images;
  if (built.failed.length)
    progress(`images not built: ${built.failed.join(", ")}: their units will fail on their nodes`);
  await publishImages(new SSMClient({}), clusterName, built.refs);
  progress(`images: ${Object.keys(built.refs).length} published (${built.seconds.toFixed(1)} s)`);
  const groups = groupsNow();
  const after = await observeGroups(groups, state);
  progress(`groups: ${after.map((m) => `${m.role} ${m.ids.length}`).join(", ")}; delivering launch events`);
  await deliverChanges({ root: dir, state, before: [], after, fns, progress, describe: describeNodes });
  await waitHealthy(dir, state, progress);
  progress(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return state;
}

/** Something accepts TCP connections at host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const sock = createConnection({ host, port });
    const end = (v: boolean) => {
      sock.destroy();
      done(v);
    };
    sock.once("connect", () => end(true));
    sock.once("error", () => end(false));
    sock.setTimeout(1000, () => end(false));
  });
}

/** Wait until every main node's etcd member answers /health. */
export async function waitHealthy(dir: string, state: LocalState, progress: Progress, timeoutMs = 60_000) {
  await waitUntil(
    "a healthy etcd cluster",
    async () => {
      const s = await status(dir, state);
      const mains = s.nodes.filter((n) => n.role === "main");
      return (
        s.etcd.reachable && s.etcd.members.length >= mains.length && s.etcd.members.every((m) => m.healthy)
      );
    },
    timeoutMs,
    250,
  );
  progress("etcd healthy");
}

export async function status(dir: string, state = requireState(dir)): Promise<ClusterStatus> {
  const groups = groupsNow();
  const { listValidSnapshots } = await import("./snapshots.ts");
  const etcdTls = await localEtcdTls(state);
  return collectStatus({
    ...(etcdTls ? { etcdTls } : {}),
    root: dir,
    state,
    groups,
    route53: new Route53Client({}),
    snapshots: () => listValidSnapshots(state),
    volumes: () => ec2Volumes(new EC2Client({}), state.clusterName).list(),
    volumeSnapshots: () => ec2VolumeSnapshots(new EC2Client({}), state.clusterName).list(),
  });
}

export async function scale(dir: string, role: Role, n: number, progress: Progress) {
  const { state, fns } = await attach(dir);
  if (role === "main" && (n < 3 || n > 9 || n % 2 === 0)) {
    throw new InvalidInputError(`the main group must stay odd, from 3 to 9 (got ${n})`);
  }
  if (!Number.isInteger(n) || n < 0 || n > LOCAL_GROUP_MAX)
    throw new InvalidInputError(`a ${role} group holds 0 to ${LOCAL_GROUP_MAX} nodes locally (got ${n})`);
  const groups = groupsNow();
  const before = await observeGroups(groups, state);
  await new AutoScalingClient({}).send(
    new SetDesiredCapacityCommand({
      AutoScalingGroupName: state.groups[role],
      DesiredCapacity: n,
      HonorCooldown: false,
    }),
  );
  const after = await observeGroups(groups, state);
  const res = await deliverChanges({
    root: dir,
    state,
    before,
    after,
    fns,
    progress,
    describe: describeNodes,
  });
  progress(`${role}: ${n} (launched ${res.launched.length}, terminated ${res.terminated.length})`);
  return res;
}

/** A node dies: its processes are killed, and its group replaces it (new instance, launch event). */
export async function kill(dir: string, instanceId: string, progress: Progress) {
  const { state, fns } = await attach(dir);
  const groups = groupsNow();
  const before = await observeGroups(groups, state);
  if (!before.some((m) => m.ids.includes(instanceId)))
    throw new NotFoundError(`no node ${instanceId} in the cluster`);
  progress(`killing ${instanceId}`);
  await killLocalNode(dir, instanceId, "SIGKILL");
  // Auto Scaling's health check finds it dead and replaces it.
  await new AutoScalingClient({}).send(
    new TerminateInstanceInAutoScalingGroupCommand({
      InstanceId: instanceId,
      ShouldDecrementDesiredCapacity: false,
    }),
  );
  const after = await observeGroups(groups, state);
  return deliverChanges({ root: dir, state, before, after, fns, progress, describe: describeNodes });
}

/**
 * One chosen node leaves its group for good (a scale-in that picks the node): the group shrinks by
 * one, the terminate hook runs, then the node's processes stop, as EC2 ends an instance.
 */
export async function removeNode(dir: string, instanceId: string, progress: Progress) {
  const { state, fns } = await attach(dir);
  const groups = groupsNow();
  const before = await observeGroups(groups, state);
  if (!before.some((m) => m.ids.includes(instanceId)))
    throw new NotFoundError(`no node ${instanceId} in the cluster`);
  progress(`removing ${instanceId}`);
  await new AutoScalingClient({}).send(
    new TerminateInstanceInAutoScalingGroupCommand({
      InstanceId: instanceId,
      ShouldDecrementDesiredCapacity: true,
    }),
  );
  const after = await observeGroups(groups, state);
  return deliverChanges({ root: dir, state, before, after, fns, progress, describe: describeNodes });
}

/** Every etcd member dies at once (SIGKILL); the machines stay, with their data on disk. */
export async function killAllMain(dir: string, progress: Progress) {
  const state = requireState(dir);
  const s = await status(dir, state);
  const mains = s.nodes.filter((n) => n.role === "main");
  // The members only: the nodes' other units (containers) live on, as on machines whose etcd crashed.
  const memberPids = (id: string) => {
    const pid = readPidFile(join(nodeDir(dir, id), "run/systemd", `${ETCD_MEMBER_UNIT_NAME}.pid`));
    return pid === undefined ? [] : [pid];
  };
  for (const n of mains) {
    const pids = memberPids(n.id);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    progress(`killed etcd on ${n.id} (${n.address})`);
  }
  await waitUntil(
    "every etcd member to die",
    async () => mains.every((n) => memberPids(n.id).every((p) => !pidAlive(p))),
    10_000,
  );
}

/** The node processes of a cluster dir that are still alive, per node. */

/** Stop every process the cluster started; reports what it found running and stopped, and what was not. */
export async function down(dir: string, progress: Progress) {
  await stopFunctions();
  const host = await stopFunctionsHost(dir);
  if (host !== undefined) progress(`stopped the functions host (pid ${host})`);
  const found = liveNodeProcesses(dir);
  await stopNodeProcessesUnder(dir);
  for (const n of found) progress(`stopped ${n.id} (pid ${n.pids.join(", ")})`);
  const moto = readPidFile(motoPidPath(dir));
  const motoAlive = moto !== undefined && pidAlive(moto);
  if (motoAlive) {
    await stopPidFile(motoPidPath(dir));
    progress(`stopped moto (pid ${moto})`);
  } else if (moto !== undefined) {
    progress(`moto (pid ${moto}) was not running`);
  }
  progress(
    found.length || motoAlive ? "local cluster down" : `nothing was running in ${dir}; local cluster down`,
  );
}
