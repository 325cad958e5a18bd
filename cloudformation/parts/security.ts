// Security groups, least access that works:
// - etcd client port 2379 on main nodes only from cluster nodes and the functions; its HTTP port
//   2382 (health) only from the functions; peer port 2380 only between main nodes. Workers and data
//   nodes reach etcd through a local gateway (etcd-amb).
// - the front door (80/443) open to the world on workers only, where nginx runs; its TCP stream for
//   Gerrit's git over SSH (29418) open to the GitSshCidr parameter's addresses, and the SFTP
//   service's (2022) to SftpCidr's, and the Buildbot master's worker port (9989) to BuildbotWorkerCidr's.
// - no SSH from anywhere: Session Manager (over SSM) replaces it.
// - cluster nodes may reach each other on the service port ranges only.
// Node egress stays open (image pulls, package downloads, AWS APIs); the functions' egress is
// limited to HTTPS (AWS APIs) and etcd on the main nodes.
// Cross-group rules are separate Ingress/Egress resources so groups never depend on each other.
import { getAtt, ref, sub, tags, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import type { SynthOptions } from "../options.ts";
import { ETCD_CLIENT_PORT, ETCD_HTTP_PORT, ETCD_PEER_PORT, ROLES } from "../../functions/domain/model.ts";

export const FRONT_DOOR_PORTS = [80, 443] as const;
/** The front door's stream port for Gerrit's SSH (functions/catalog/team/gerrit@.service `Streams=`). */
export const GIT_SSH_PORT = 29418;
/** The front door's stream port for the SFTP service (functions/catalog/team/sftp@.service `Streams=`). */
export const SFTP_PORT = 2022;
/** The front door's stream port for Buildbot's workers (functions/catalog/team/buildbot@.service `Streams=`). */
export const BUILDBOT_WORKER_PORT = 9989;

const group = (t: TemplateBuilder, id: string, description: string, extra: Record<string, CfnValue> = {}) =>
  t.resource(id, {
    Type: "AWS::EC2::SecurityGroup",
    Properties: {
      GroupDescription: description,
      VpcId: ref(Ids.vpc),
      Tags: tags({ Name: sub(`\${${Params.clusterName}}-${id}`) }),
      ...extra,
    },
  });

export function addSecurityGroups(t: TemplateBuilder, o: SynthOptions): void {
  for (const role of ROLES) group(t, Ids.nodeSecurityGroup(role), `devcluster ${role} nodes`);
  group(t, Ids.clusterNodeSecurityGroup, "devcluster: every cluster node (service traffic between nodes)");
  group(t, Ids.lambdaSecurityGroup, "devcluster control plane functions", {
    // Replaces the default allow-all egress: HTTPS to AWS APIs; etcd is added below.
    SecurityGroupEgress: [
      { IpProtocol: "tcp", FromPort: 443, ToPort: 443, CidrIp: "0.0.0.0/0", Description: "AWS APIs" },
    ],
  });
  group(t, Ids.endpointSecurityGroup, "devcluster VPC interface endpoints", {
    // Endpoints answer, they never connect out: egress only to the VPC's own block on 443.
    SecurityGroupEgress: [
      {
        IpProtocol: "tcp",
        FromPort: 443,
        ToPort: 443,
        CidrIp: o.vpcCidr,
        Description: "replies stay in the VPC",
      },
    ],
  });

  const ingress = (id: string, target: string, props: Record<string, CfnValue>) =>
    t.resource(id, {
      Type: "AWS::EC2::SecurityGroupIngress",
      Properties: { GroupId: getAtt(target, "GroupId"), ...props },
    });
  const tcp = (port: number) => ({ IpProtocol: "tcp", FromPort: port, ToPort: port });
  const from = (sg: string) => ({ SourceSecurityGroupId: getAtt(sg, "GroupId") });

  const main = Ids.nodeSecurityGroup("main");
  ingress("MainEtcdClientFromNodes", main, {
    ...tcp(ETCD_CLIENT_PORT),
    ...from(Ids.clusterNodeSecurityGroup),
    Description: "etcd clients on cluster nodes",
  });
  ingress("MainEtcdClientFromFunctions", main, {
    ...tcp(ETCD_CLIENT_PORT),
    ...from(Ids.lambdaSecurityGroup),
    Description: "etcd clients: control plane",
  });
  // etcd's HTTP listener (/health, /version): the functions probe members there (decision 79).
  ingress("MainEtcdHttpFromFunctions", main, {
    ...tcp(ETCD_HTTP_PORT),
    ...from(Ids.lambdaSecurityGroup),
    Description: "etcd health: control plane",
  });
  ingress("MainEtcdPeerFromMain", main, { ...tcp(ETCD_PEER_PORT), ...from(main), Description: "etcd peers" });
  t.resource("FunctionsEtcdEgress", {
    Type: "AWS::EC2::SecurityGroupEgress",
    Properties: {
      GroupId: getAtt(Ids.lambdaSecurityGroup, "GroupId"),
      ...tcp(ETCD_CLIENT_PORT),
      DestinationSecurityGroupId: getAtt(main, "GroupId"),
      Description: "etcd on main nodes",
    },
  });
  t.resource("FunctionsEtcdHttpEgress", {
    Type: "AWS::EC2::SecurityGroupEgress",
    Properties: {
      GroupId: getAtt(Ids.lambdaSecurityGroup, "GroupId"),
      ...tcp(ETCD_HTTP_PORT),
      DestinationSecurityGroupId: getAtt(main, "GroupId"),
      Description: "etcd health on main nodes",
    },
  });
  for (const port of FRONT_DOOR_PORTS) {
    ingress(`WorkerFrontDoor${port}`, Ids.nodeSecurityGroup("worker"), {
      ...tcp(port),
      CidrIp: "0.0.0.0/0",
      Description: "front door (nginx)",
    });
  }
  ingress("WorkerFrontDoorGitSsh", Ids.nodeSecurityGroup("worker"), {
    ...tcp(GIT_SSH_PORT),
    CidrIp: ref(Params.gitSshCidr),
    Description: "front door: git over SSH to Gerrit",
  });
  ingress("WorkerFrontDoorSftp", Ids.nodeSecurityGroup("worker"), {
    ...tcp(SFTP_PORT),
    CidrIp: ref(Params.sftpCidr),
    Description: "front door: SFTP",
  });
  ingress("WorkerFrontDoorBuildbotWorkers", Ids.nodeSecurityGroup("worker"), {
    ...tcp(BUILDBOT_WORKER_PORT),
    CidrIp: ref(Params.buildbotWorkerCidr),
    Description: "front door: Buildbot workers",
  });
  o.servicePorts.forEach((p, i) => {
    ingress(`ClusterServicePorts${i}`, Ids.clusterNodeSecurityGroup, {
      IpProtocol: p.protocol,
      FromPort: p.from,
      ToPort: p.to,
      ...from(Ids.clusterNodeSecurityGroup),
      Description: "services between cluster nodes",
    });
  });
  for (const [id, sg] of [
    ["EndpointsFromNodes", Ids.clusterNodeSecurityGroup],
    ["EndpointsFromFunctions", Ids.lambdaSecurityGroup],
  ] as const) {
    ingress(id, Ids.endpointSecurityGroup, {
      ...tcp(443),
      ...from(sg),
      Description: "HTTPS to VPC endpoints",
    });
  }
}
