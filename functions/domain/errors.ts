// Typed errors: callers branch on the class, never on message text.

export class DevclusterError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input (event, parameter, unit file, request) is malformed. Nothing was changed. */
export class InvalidInputError extends DevclusterError {
  constructor(
    message: string,
    readonly issues: string[] = [],
  ) {
    super(issues.length ? `${message}: ${issues.join("; ")}` : message);
  }
}

/** Required configuration (environment) is missing or invalid. */
export class ConfigError extends DevclusterError {}

/** Something the input names does not exist (instance, snapshot, group). */
export class NotFoundError extends DevclusterError {}

/** The requested change is refused because it would break a safety rule (quorum, confirmation). */
export class RefusedError extends DevclusterError {}

/** Another handler holds the lock for this change; try again later. */
export class LockBusyError extends DevclusterError {}

/** The learner has not caught up with the leader yet; promote later. */
export class LearnerNotReadyError extends DevclusterError {}
/** etcd refuses a membership change for now (a member joined less than 5 s ago, or a learner is pending). */
export class ClusterNotReadyError extends DevclusterError {}
/** No etcd endpoint answered. */
export class EtcdUnavailableError extends DevclusterError {}
