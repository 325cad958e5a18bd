// Volume attachments (pure): which volumes to detach and attach so each unit with volumes finds them
// on its node, fenced: a volume leaves a running node only on that node's own word that the unit is
// not running there (a push it answered just now), or once the node is gone; it is attached only
// when no node holds it.
import { currentVolume, type VolumeKey, type VolumeNeed, type VolumeRecord } from "./volumes.ts";

const sameKey = (a: VolumeKey, b: VolumeKey) =>
  a.service === b.service && a.instance === b.instance && a.volume === b.volume;

/** EC2 instance states in which nothing runs on the instance any more. */
const GONE_STATES = new Set(["terminated", "stopped"]);

export type VolumeAction =
  | { kind: "detach"; volumeId: string; from: string; reason: "unit-stopped" | "node-gone" }
  | { kind: "attach"; volumeId: string; to: string; device: string };

export interface AttachmentsInput {
  needs: VolumeNeed[];
  volumes: VolumeRecord[];
  /** Where units go now (the new placement). */
  placement: Record<string, string[]>;
  /**
   * The units each node reported running in a push it answered during this sync (its own word; a
   * stored placement is not enough: a terminating node is never pushed, and its units run on until
   * it is gone). A running node with no report here keeps its volumes.
   */
  reported: Record<string, string[]>;
  /** EC2 state of each instance a volume is attached to (absent: the instance no longer exists). */
  instanceStates: Record<string, string>;
}

export interface AttachmentsPlan {
  actions: VolumeAction[];
  /** Units whose every volume is (or, after `actions`, will be) attached to their node: pushable. */
  ready: string[];
  /** Units placed on a node that must not start there yet, with why. */
  held: { unit: string; reason: string }[];
}

/** The device names EC2 accepts for data volumes, in the order they are handed out. */
export const DEVICE_NAMES = "fghijklmnop".split("").map((c) => `/dev/xvd${c}`);

export function planAttachments(input: AttachmentsInput): AttachmentsPlan {
  const actions: VolumeAction[] = [];
  const ready: string[] = [];
  const held: AttachmentsPlan["held"] = [];
  // Devices taken per node: by what is attached there now (a volume being detached keeps its name
  // until it is gone) and by what this plan attaches, so a name is never handed out twice.
  const taken = new Map<string, Set<string>>();
  const takenOn = (node: string) => {
    if (!taken.has(node)) taken.set(node, new Set());
    return taken.get(node)!;
  };
  const gone = (node: string) => {
    const s = input.instanceStates[node];
    return s === undefined || GONE_STATES.has(s);
  };
  const byUnit = new Map<string, VolumeNeed[]>();
  for (const n of input.needs) byUnit.set(n.unit, [...(byUnit.get(n.unit) ?? []), n]);
  for (const v of input.volumes) if (v.attachedTo && v.device) takenOn(v.attachedTo).add(v.device);

  for (const [unit, needs] of [...byUnit].sort(([a], [b]) => a.localeCompare(b))) {
    const target = input.placement[unit]?.[0];
    const reasons: string[] = [];
    for (const need of needs) {
      // A volume a restore or a move retired may still be attached where the unit ran on it: it
      // leaves under the same fence as any other (never from under the running unit), and the unit
      // starts on its successor only once it has.
      for (const old of input.volumes.filter((r) => r.retired && r.attachedTo && sameKey(r, need))) {
        const at = old.attachedTo!;
        const stopped = input.reported[at] !== undefined && !input.reported[at]!.includes(unit);
        if (!gone(at) && !stopped) {
          reasons.push(
            `retired volume ${old.id} is still attached to ${at}, which has not reported the unit stopped`,
          );
          continue;
        }
        actions.push({
          kind: "detach",
          volumeId: old.id,
          from: at,
          reason: gone(at) ? "node-gone" : "unit-stopped",
        });
      }
      const v = currentVolume(input.volumes, need);
      if (!v) {
        if (target) reasons.push(`volume ${need.volume} does not exist yet`);
        continue;
      }
      if (v.state !== "available" && v.state !== "in-use") {
        reasons.push(`volume ${v.id} is ${v.state}`);
        continue;
      }
      const at = v.attachedTo;
      if (at && at === target) continue;
      if (at) {
        // Possibly still running there: never pulled from under a live unit.
        const stopped = input.reported[at] !== undefined && !input.reported[at]!.includes(unit);
        if (!gone(at) && !stopped) {
          reasons.push(`volume ${v.id} is attached to ${at}, which has not reported the unit stopped`);
          continue;
        }
        actions.push({
          kind: "detach",
          volumeId: v.id,
          from: at,
          reason: gone(at) ? "node-gone" : "unit-stopped",
        });
      }
      if (!target) continue;
      const used = takenOn(target);
      const device = DEVICE_NAMES.find((d) => !used.has(d));
      if (!device) {
        reasons.push(`node ${target} has no free device name for volume ${v.id}`);
        continue;
      }
      used.add(device);
      actions.push({ kind: "attach", volumeId: v.id, to: target, device });
    }
    if (!target) continue;
    if (reasons.length) held.push({ unit, reason: reasons.join("; ") });
    else ready.push(unit);
  }
  return { actions, ready, held };
}

/**
 * Which unit each volume belongs to: its key's volume in use, and any retired one of the same key
 * (still attached where the unit ran on it until the fence lets it go).
 */
export function unitOfVolumes(needs: VolumeNeed[], volumes: VolumeRecord[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of needs) {
    const v = currentVolume(volumes, n);
    if (v) out.set(v.id, n.unit);
    for (const r of volumes) if (r.retired && r.attachedTo && sameKey(r, n)) out.set(r.id, n.unit);
  }
  return out;
}
