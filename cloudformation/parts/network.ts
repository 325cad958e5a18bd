// The VPC over three zones.
//
// Nodes live in the public subnets with public IPs and no inbound access beyond their security
// groups: workers serve the front door (80/443) directly, and first-boot downloads (etcd, images)
// go straight out instead of paying NAT data charges. The private subnets hold only the functions'
// network interfaces (Lambda in a VPC never gets a public IP); they reach AWS APIs through the
// S3 gateway endpoint, the SSM interface endpoints, and a NAT gateway for the rest (Route 53's API,
// Auto Scaling, EC2, CloudWatch, Lambda). One NAT gateway by default: a dev cluster accepts that a
// zone outage pauses the functions (the nodes keep running); `natGateways: "per-zone"` removes that.
import { getAtt, getAZs, ref, select, sub, tags, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import type { SynthOptions } from "../options.ts";

export const ZONES = [0, 1, 2] as const;

/** The /20 blocks of a /16: public subnets take 0-2, private subnets 8-10. */
export function subnetCidr(vpcCidr: string, index: number): string {
  const [a, b] = vpcCidr.split(".");
  return `${a}.${b}.${index * 16}.0/20`;
}

export interface Network {
  publicSubnets: CfnValue[];
  privateSubnets: CfnValue[];
}

export function addNetwork(t: TemplateBuilder, o: SynthOptions): Network {
  const name = (suffix: string) => tags({ Name: sub(`\${${Params.clusterName}}-${suffix}`) });
  t.resource(Ids.vpc, {
    Type: "AWS::EC2::VPC",
    // DNS support and hostnames: the private hosted zone resolves only with both on.
    Properties: { CidrBlock: o.vpcCidr, EnableDnsSupport: true, EnableDnsHostnames: true, Tags: name("vpc") },
  });
  t.resource("InternetGateway", { Type: "AWS::EC2::InternetGateway", Properties: { Tags: name("igw") } });
  t.resource("InternetGatewayAttachment", {
    Type: "AWS::EC2::VPCGatewayAttachment",
    Properties: { VpcId: ref(Ids.vpc), InternetGatewayId: ref("InternetGateway") },
  });

  t.resource("PublicRouteTable", {
    Type: "AWS::EC2::RouteTable",
    Properties: { VpcId: ref(Ids.vpc), Tags: name("public") },
  });
  t.resource("PublicDefaultRoute", {
    Type: "AWS::EC2::Route",
    DependsOn: "InternetGatewayAttachment",
    Properties: {
      RouteTableId: ref("PublicRouteTable"),
      DestinationCidrBlock: "0.0.0.0/0",
      GatewayId: ref("InternetGateway"),
    },
  });

  const natZones = o.natGateways === "per-zone" ? ZONES : [0];
  for (const z of ZONES) {
    const az = select(z, getAZs());
    t.resource(Ids.publicSubnet(z), {
      Type: "AWS::EC2::Subnet",
      Properties: {
        VpcId: ref(Ids.vpc),
        AvailabilityZone: az,
        CidrBlock: subnetCidr(o.vpcCidr, z),
        MapPublicIpOnLaunch: true,
        Tags: name(`public-${z}`),
      },
    });
    t.resource(`PublicSubnet${z}RouteTableAssociation`, {
      Type: "AWS::EC2::SubnetRouteTableAssociation",
      Properties: { SubnetId: ref(Ids.publicSubnet(z)), RouteTableId: ref("PublicRouteTable") },
    });
    t.resource(Ids.privateSubnet(z), {
      Type: "AWS::EC2::Subnet",
      Properties: {
        VpcId: ref(Ids.vpc),
        AvailabilityZone: az,
        CidrBlock: subnetCidr(o.vpcCidr, 8 + z),
        Tags: name(`private-${z}`),
      },
    });
    // One private route table per zone, so moving to a NAT per zone changes routes, not tables.
    t.resource(`PrivateRouteTable${z}`, {
      Type: "AWS::EC2::RouteTable",
      Properties: { VpcId: ref(Ids.vpc), Tags: name(`private-${z}`) },
    });
    t.resource(`PrivateSubnet${z}RouteTableAssociation`, {
      Type: "AWS::EC2::SubnetRouteTableAssociation",
      Properties: { SubnetId: ref(Ids.privateSubnet(z)), RouteTableId: ref(`PrivateRouteTable${z}`) },
    });
  }
  for (const z of natZones) {
    t.resource(`NatAddress${z}`, {
      Type: "AWS::EC2::EIP",
      DependsOn: "InternetGatewayAttachment",
      Properties: { Domain: "vpc", Tags: name(`nat-${z}`) },
    });
    t.resource(`NatGateway${z}`, {
      Type: "AWS::EC2::NatGateway",
      Properties: {
        AllocationId: getAtt(`NatAddress${z}`, "AllocationId"),
        SubnetId: ref(Ids.publicSubnet(z)),
        Tags: name(`nat-${z}`),
      },
    });
  }
  for (const z of ZONES) {
    const nat = natZones.includes(z) ? z : natZones[0]!;
    t.resource(`PrivateDefaultRoute${z}`, {
      Type: "AWS::EC2::Route",
      Properties: {
        RouteTableId: ref(`PrivateRouteTable${z}`),
        DestinationCidrBlock: "0.0.0.0/0",
        NatGatewayId: ref(`NatGateway${nat}`),
      },
    });
  }

  // S3 gateway endpoint: free, and snapshots (the bulk of the functions' traffic) skip the NAT.
  t.resource("S3GatewayEndpoint", {
    Type: "AWS::EC2::VPCEndpoint",
    Properties: {
      VpcId: ref(Ids.vpc),
      VpcEndpointType: "Gateway",
      ServiceName: sub("com.amazonaws.${AWS::Region}.s3"),
      RouteTableIds: [ref("PublicRouteTable"), ...ZONES.map((z) => ref(`PrivateRouteTable${z}`))],
    },
  });
  if (o.interfaceEndpoints) {
    // SSM is the one path every node command takes: with these, Run Command and Session Manager
    // keep working (and stay inside the VPC) whatever happens to the NAT gateway.
    for (const service of ["ssm", "ssmmessages", "ec2messages"]) {
      t.resource(`${service.charAt(0).toUpperCase()}${service.slice(1)}Endpoint`, {
        Type: "AWS::EC2::VPCEndpoint",
        Properties: {
          VpcId: ref(Ids.vpc),
          VpcEndpointType: "Interface",
          ServiceName: sub(`com.amazonaws.\${AWS::Region}.${service}`),
          PrivateDnsEnabled: true,
          SubnetIds: ZONES.map((z) => ref(Ids.privateSubnet(z))),
          SecurityGroupIds: [ref(Ids.endpointSecurityGroup)],
        },
      });
    }
  }
  return {
    publicSubnets: ZONES.map((z) => ref(Ids.publicSubnet(z))),
    privateSubnets: ZONES.map((z) => ref(Ids.privateSubnet(z))),
  };
}
