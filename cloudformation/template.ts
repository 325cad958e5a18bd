// The whole cluster's template, composed from its parts. Pure: options in, template out.
import { getAtt, join, ref, TemplateBuilder, type Template } from "./cfn.ts";
import { Conditions, Ids } from "./ids.ts";
import { FUNCTION_NAMES, resolveOptions, validateOptions, type SynthOptions } from "./options.ts";
import { addParameters } from "./parts/parameters.ts";
import { addNetwork } from "./parts/network.ts";
import { addSecurityGroups } from "./parts/security.ts";
import { addIam } from "./parts/iam.ts";
import { addGroups } from "./parts/groups.ts";
import { addEvents } from "./parts/events.ts";
import { addStorage } from "./parts/storage.ts";
import { addClusterKey } from "./parts/keys.ts";
import { addMonitoring } from "./parts/monitoring.ts";
import { addDns } from "./parts/dns.ts";
import { addImageRepositories, registryPrefix } from "./parts/images.ts";
import { addIdentity } from "./parts/identity.ts";
import { ROLES } from "../functions/domain/model.ts";

/** Build the cluster template. Throws InvalidInputError (naming option and rule) on bad options. */
export function buildTemplate(partial: Partial<SynthOptions> = {}): Template {
  const o = validateOptions(resolveOptions(partial));
  const t = new TemplateBuilder(
    "devcluster: VPC, main/worker/data Auto Scaling groups on Flatcar with lifecycle hooks, etcd snapshot bucket, " +
      "private DNS, image repositories and the control plane's roles and event routing",
  );
  addParameters(t, o);
  const net = addNetwork(t, o);
  addSecurityGroups(t, o);
  addIam(t, o, FUNCTION_NAMES);
  addGroups(t, o, net);
  addEvents(t, o);
  addClusterKey(t, FUNCTION_NAMES);
  addStorage(t, FUNCTION_NAMES);
  addMonitoring(t);
  addDns(t);
  addImageRepositories(t);
  addIdentity(t);
  addOutputs(t);
  return t.template;
}

function addOutputs(t: TemplateBuilder): void {
  const out = (id: string, Description: string, Value: Parameters<TemplateBuilder["output"]>[1]["Value"]) =>
    t.output(id, { Description, Value });
  out("VpcId", "The cluster's VPC", ref(Ids.vpc));
  out("SnapshotBucketName", "Bucket holding etcd snapshots (SNAPSHOT_BUCKET)", ref(Ids.snapshotBucket));
  out("PrivateZoneId", "Private hosted zone id (PRIVATE_ZONE_ID)", ref(Ids.privateZone));
  out("UserPoolId", "The cluster's user pool (devcluster users --pool-id)", ref(Ids.userPool));
  out("UserPoolClientId", "The auth service's app client of the user pool", ref(Ids.authClient));
  for (const role of ROLES)
    out(`${Ids.group(role)}Name`, `Auto Scaling group of ${role} nodes`, ref(Ids.group(role)));
  out(
    "PublicSubnetIds",
    "Subnets of the nodes (comma-separated)",
    join(
      ",",
      [0, 1, 2].map((z) => ref(Ids.publicSubnet(z))),
    ),
  );
  out(
    "PrivateSubnetIds",
    "Subnets of the functions (comma-separated)",
    join(
      ",",
      [0, 1, 2].map((z) => ref(Ids.privateSubnet(z))),
    ),
  );
  out("LambdaSecurityGroupId", "Security group of the functions", getAtt(Ids.lambdaSecurityGroup, "GroupId"));
  out("ClusterKeyAlias", "KMS key of snapshots and SecureString parameters", ref(Ids.clusterKeyAlias));
  out("NodeRoleArn", "Role of the cluster nodes", getAtt(Ids.nodeRole, "Arn"));
  out(
    "ImageRegistry",
    "Where the cluster's images are pushed (containers/build.sh --push --registry)",
    registryPrefix(),
  );
  for (const fn of FUNCTION_NAMES) {
    out(
      `${Ids.functionRole(fn)}Arn`,
      `Execution role of the ${fn} function`,
      getAtt(Ids.functionRole(fn), "Arn"),
    );
  }
  t.output("FrontDoorAllocationId", {
    Description: "Elastic IP the front door record points at (the control plane associates it with a worker)",
    Value: getAtt(Ids.frontDoorAddress, "AllocationId"),
    Condition: Conditions.hasFrontDoorRecord,
  });
}
