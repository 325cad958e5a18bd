// LifecycleActions port for local mode: moto has no lifecycle actions, so the local cluster's stand-in
// for Auto Scaling records each completion (and heartbeat) in <root>/lifecycle-actions.jsonl.
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { LifecycleActionRef, LifecycleActions, LifecycleResult } from "../functions/ports/index.ts";

export interface RecordedAction extends LifecycleActionRef {
  kind: "complete" | "heartbeat";
  result?: LifecycleResult;
  at: string;
}

const file = (root: string) => join(root, "lifecycle-actions.jsonl");

export function localLifecycleActions(root: string): LifecycleActions {
  const record = (r: RecordedAction) => {
    mkdirSync(root, { recursive: true });
    appendFileSync(file(root), JSON.stringify(r) + "\n");
  };
  return {
    async complete(ref, result) {
      record({ ...ref, kind: "complete", result, at: new Date().toISOString() });
    },
    async heartbeat(ref) {
      record({ ...ref, kind: "heartbeat", at: new Date().toISOString() });
    },
  };
}
