// Logical ids other code refers to (serverless.yml, tests, outputs): named once, here.
import type { Role } from "../functions/domain/model.ts";
import type { FunctionName } from "./options.ts";

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const Params = {
  clusterName: "ClusterName",
  clusterDomain: "ClusterDomain",
  flatcarAmi: "FlatcarAmi",
  mainSize: "MainSize",
  workerMin: "WorkerMinSize",
  workerMax: "WorkerMaxSize",
  workerDesired: "WorkerDesiredSize",
  dataSize: "DataSize",
  instanceType: (role: Role) => `${cap(role)}InstanceType`,
  snapshotInterval: "SnapshotIntervalMinutes",
  retainLast: "RetainLast",
  retainDays: "RetainDays",
  autoRestore: "AutoRestore",
  alarmTopic: "AlarmTopicArn",
  publicZoneId: "PublicZoneId",
  frontDoorDnsName: "FrontDoorDnsName",
  fileDropSender: "FileDropSender",
  services: "Services",
  gitSshCidr: "GitSshCidr",
  sftpCidr: "SftpCidr",
  buildbotWorkerCidr: "BuildbotWorkerCidr",
  etcdTls: "EtcdTls",
} as const;

export const Conditions = {
  hasAlarmTopic: "HasAlarmTopic",
  hasFrontDoorRecord: "HasFrontDoorRecord",
} as const;

export const Ids = {
  vpc: "Vpc",
  publicSubnet: (zone: number) => `PublicSubnet${zone}`,
  privateSubnet: (zone: number) => `PrivateSubnet${zone}`,
  group: (role: Role) => `${cap(role)}Group`,
  launchTemplate: (role: Role) => `${cap(role)}LaunchTemplate`,
  nodeSecurityGroup: (role: Role) => `${cap(role)}NodeSecurityGroup`,
  clusterNodeSecurityGroup: "ClusterNodeSecurityGroup",
  lambdaSecurityGroup: "LambdaSecurityGroup",
  endpointSecurityGroup: "EndpointSecurityGroup",
  nodeRole: "NodeRole",
  nodeInstanceProfile: "NodeInstanceProfile",
  /** The role serverless.yml names in a function's `role:`. */
  functionRole: (fn: FunctionName) => `${cap(fn)}FunctionRole`,
  /** Serverless's own logical id for a function (`<Name>LambdaFunction`). */
  lambdaFunction: (fn: FunctionName) => `${cap(fn)}LambdaFunction`,
  snapshotBucket: "SnapshotBucket",
  snapshotBucketPolicy: "SnapshotBucketPolicy",
  clusterKey: "ClusterKey",
  clusterKeyAlias: "ClusterKeyAlias",
  privateZone: "PrivateZone",
  userPool: "UserPool",
  authClient: "AuthUserPoolClient",
  /** `admins` -> `AdminsUserPoolGroup`. */
  userPoolGroup: (name: string) => `${cap(name)}UserPoolGroup`,
  frontDoorAddress: "FrontDoorAddress",
  frontDoorRecord: "FrontDoorRecord",
  lifecycleRule: "LifecycleActionRule",
  lifecycleDeadLetters: "LifecycleDeadLetterQueue",
  lifecycleDeadLettersPolicy: "LifecycleDeadLetterQueuePolicy",
  reconcileRule: "ReconcileScheduleRule",
  promoteRule: "PromoteCheckScheduleRule",
  snapshotRule: "SnapshotScheduleRule",
  volumeSnapshotRule: "VolumeSnapshotScheduleRule",
  snapshotAlarm: "SnapshotMissingAlarm",
  restoreAlarm: "RestoreNeededAlarm",
  /** One ECR repository per image: `presence-dns` -> `PresenceDnsImageRepository`. */
  imageRepository: (image: string) =>
    `${image
      .split(/[^A-Za-z0-9]+/)
      .map(cap)
      .join("")}ImageRepository`,
} as const;

/** Lifecycle hook names on every group (the handler reads the name from the event). */
export const HOOKS = { launch: "devcluster-launch", terminate: "devcluster-terminate" } as const;
/** Metric names and namespace the functions publish (functions/domain/config.ts METRIC_NAMESPACE). */
export const METRICS = {
  namespace: "Devcluster",
  snapshotSucceeded: "SnapshotSucceeded",
  restoreNeeded: "RestoreNeeded",
} as const;
