// The error family: callers branch on the class, never on message text. Each error says who can act
// on it (`source`): the user (bad input, a refused or impossible request: printed without a stack) or
// the system (a dependency failed or is not ready: retried, logged with stack and cause).

export type ErrorSource = "user" | "system";

export class DevclusterError extends Error {
  readonly source: ErrorSource = "system";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error the user fixes (the input, the request, the configuration); nothing was changed. */
export class UserError extends DevclusterError {
  override readonly source: ErrorSource = "user";
}

/** The input (event, parameter, unit file, request) is malformed. Nothing was changed. */
export class InvalidInputError extends UserError {
  constructor(
    /** What was malformed, without the issues (the message carries both). */
    readonly summary: string,
    readonly issues: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(issues.length ? `${summary}: ${issues.join("; ")}` : summary, options);
  }
}

/** Required configuration (environment) is missing or invalid. */
export class ConfigError extends UserError {}

/** Something the input names does not exist (instance, snapshot, group). */
export class NotFoundError extends UserError {}

/** The requested change is refused because it would break a safety rule (quorum, confirmation). */
export class RefusedError extends UserError {}

/** A lifecycle event whose group, instance or state does not match the cluster: nothing is changed. */
export class EventRefusedError extends RefusedError {}

/** Another handler holds the lock for this change; try again later. */
export class LockBusyError extends DevclusterError {}

/** The learner has not caught up with the leader yet; promote later. */
export class LearnerNotReadyError extends DevclusterError {}
/** etcd refuses a membership change for now (a member joined less than 5 s ago, or a learner is pending). */
export class ClusterNotReadyError extends DevclusterError {}
/** No etcd endpoint answered. */
export class EtcdUnavailableError extends DevclusterError {}

/** Something the system waits for did not happen in time (a cluster forming, a DNS sync). */
export class DeadlineError extends DevclusterError {}

/** A rule the code itself keeps was broken (a value unsafe for a node script, a malformed id). */
export class InvariantError extends DevclusterError {}

/** A zod-style issue list as `path: message` lines (`input` for the whole value). */
export function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string[] {
  return issues.map((i) => `${i.path.map(String).join(".") || "input"}: ${i.message}`);
}
