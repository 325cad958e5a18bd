// The three Auto Scaling groups, their launch templates and lifecycle hooks.
// Hooks are declared inside the group (LifecycleHookSpecificationList), not as separate resources,
// so they exist before the group launches its first instance.
import { getAtt, ref, sub, tags, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { HOOKS, Ids, Params } from "../ids.ts";
import type { SynthOptions } from "../options.ts";
import { CLUSTER_TAG, ROLE_TAG, ROLES, type Role } from "../../functions/domain/model.ts";
import { ignitionConfig, ignitionUserData } from "./ignition.ts";
import { MAIN_SIZES } from "./parameters.ts";
import type { Network } from "./network.ts";

/**
 * Launch: the node must be registered (etcd learner, DNS, units) before it serves; if the
 * lifecycle function never answers, the node is abandoned rather than kept half-made.
 * Terminate: the node goes anyway; CONTINUE lets reconcile clean up if the function missed it.
 */
export const HOOK_SETTINGS = {
  launch: { transition: "autoscaling:EC2_INSTANCE_LAUNCHING", heartbeat: 900, result: "ABANDON" },
  terminate: { transition: "autoscaling:EC2_INSTANCE_TERMINATING", heartbeat: 600, result: "CONTINUE" },
} as const;

export const MAIN_MAX_SIZE = Math.max(...MAIN_SIZES) + 1;

const ROOT_VOLUME_GB: Record<Role, number> = { main: 20, worker: 30, data: 100 };

function sizes(role: Role): { MinSize: CfnValue; MaxSize: CfnValue; DesiredCapacity: CfnValue } {
  switch (role) {
    case "main":
      // Pinned to MainSize (min = desired); the ceiling leaves room above the largest size so a
      // rolling update can add a member before removing one. (A per-size mapping would be
      // tighter, but moto's Fn::FindInMap cannot look up a Number parameter, and local mode
      // applies this template to moto.)
      return {
        MinSize: ref(Params.mainSize),
        MaxSize: String(MAIN_MAX_SIZE),
        DesiredCapacity: ref(Params.mainSize),
      };
    case "worker":
      return {
        MinSize: ref(Params.workerMin),
        MaxSize: ref(Params.workerMax),
        DesiredCapacity: ref(Params.workerDesired),
      };
    case "data":
      return {
        MinSize: ref(Params.dataSize),
        MaxSize: ref(Params.dataSize),
        DesiredCapacity: ref(Params.dataSize),
      };
  }
}

export function addGroups(t: TemplateBuilder, o: SynthOptions, net: Network): void {
  for (const role of ROLES) {
    const roleTags = {
      [ROLE_TAG]: role,
      [CLUSTER_TAG]: ref(Params.clusterName),
      Name: sub(`\${${Params.clusterName}}-${role}`),
    };
    t.resource(Ids.launchTemplate(role), {
      Type: "AWS::EC2::LaunchTemplate",
      Properties: {
        LaunchTemplateName: sub(`\${${Params.clusterName}}-${role}`),
        LaunchTemplateData: {
          ImageId: ref(Params.flatcarAmi),
          InstanceType: ref(Params.instanceType(role)),
          IamInstanceProfile: { Arn: getAtt(Ids.nodeInstanceProfile, "Arn") },
          SecurityGroupIds: [
            getAtt(Ids.nodeSecurityGroup(role), "GroupId"),
            getAtt(Ids.clusterNodeSecurityGroup, "GroupId"),
          ],
          UserData: ignitionUserData(ignitionConfig(role, o.etcdVersion)),
          // IMDSv2 only, one hop: the catalog's containers run on the host network (no extra hop), and
          // a container on a bridge network cannot take the node's credentials.
          MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled" },
          BlockDeviceMappings: [
            {
              DeviceName: "/dev/xvda",
              Ebs: {
                VolumeSize: ROOT_VOLUME_GB[role],
                VolumeType: "gp3",
                Encrypted: true,
                DeleteOnTermination: true,
              },
            },
          ],
          TagSpecifications: [{ ResourceType: "volume", Tags: tags(roleTags) }],
        },
      },
    });
    const isMain = role === "main";
    t.resource(Ids.group(role), {
      Type: "AWS::AutoScaling::AutoScalingGroup",
      Properties: {
        AutoScalingGroupName: sub(`\${${Params.clusterName}}-${role}`),
        ...sizes(role),
        // Only workers face the internet (the front door); main and data nodes have no public
        // address and reach out through the NAT gateway.
        VPCZoneIdentifier: role === "worker" ? net.publicSubnets : net.privateSubnets,
        LaunchTemplate: {
          LaunchTemplateId: ref(Ids.launchTemplate(role)),
          Version: getAtt(Ids.launchTemplate(role), "LatestVersionNumber"),
        },
        HealthCheckType: "EC2",
        HealthCheckGracePeriod: 300,
        LifecycleHookSpecificationList: (["launch", "terminate"] as const).map((kind) => ({
          LifecycleHookName: HOOKS[kind],
          LifecycleTransition: HOOK_SETTINGS[kind].transition,
          HeartbeatTimeout: HOOK_SETTINGS[kind].heartbeat,
          DefaultResult: HOOK_SETTINGS[kind].result,
        })),
        Tags: Object.entries(roleTags).map(([Key, Value]) => ({ Key, Value, PropagateAtLaunch: true })),
      },
      UpdatePolicy: isMain
        ? {
            // One member at a time, never below the configured size: a new node joins (as a
            // learner, promoted by reconcile) before an old one leaves.
            AutoScalingRollingUpdate: {
              MaxBatchSize: 1,
              MinInstancesInService: ref(Params.mainSize),
              PauseTime: "PT10M",
            },
          }
        : {
            AutoScalingRollingUpdate: { MaxBatchSize: 1, MinInstancesInService: 0, PauseTime: "PT2M" },
            // A deploy does not reset a size someone changed by hand unless its parameter changed.
            AutoScalingScheduledAction: { IgnoreUnmodifiedGroupSizeProperties: true },
          },
    });
  }
}
