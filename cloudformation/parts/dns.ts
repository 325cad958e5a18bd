// DNS: the private zone the control plane writes node and etcd discovery records into, and the
// optional public front door record. Worker addresses change with every launch, so the public
// record points at an Elastic IP the control plane moves to a healthy worker.
import { ref, sub, type TemplateBuilder } from "../cfn.ts";
import { Conditions, Ids, Params } from "../ids.ts";

export function addDns(t: TemplateBuilder): void {
  t.resource(Ids.privateZone, {
    Type: "AWS::Route53::HostedZone",
    Properties: {
      Name: ref(Params.clusterDomain),
      HostedZoneConfig: {
        Comment: sub(`devcluster \${${Params.clusterName}}: nodes and etcd discovery (SRV)`),
      },
      VPCs: [{ VPCId: ref(Ids.vpc), VPCRegion: ref("AWS::Region") }],
    },
  });
  t.resource(Ids.frontDoorAddress, {
    Type: "AWS::EC2::EIP",
    Condition: Conditions.hasFrontDoorRecord,
    DependsOn: "InternetGatewayAttachment",
    Properties: {
      Domain: "vpc",
      Tags: [{ Key: "Name", Value: sub(`\${${Params.clusterName}}-front-door`) }],
    },
  });
  t.resource(Ids.frontDoorRecord, {
    Type: "AWS::Route53::RecordSet",
    Condition: Conditions.hasFrontDoorRecord,
    Properties: {
      HostedZoneId: ref(Params.publicZoneId),
      Name: ref(Params.frontDoorDnsName),
      Type: "A",
      TTL: "300",
      ResourceRecords: [ref(Ids.frontDoorAddress)],
    },
  });
}
