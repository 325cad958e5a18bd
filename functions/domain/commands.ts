// What a node command is and what it returns (the Commands port runs them; planners build them).
export interface CommandRequest {
  instanceIds: string[];
  /** A bash script, run as root on each node; `$ROOT` prefixes every path it touches. */
  script: string;
  comment: string;
  timeoutSeconds?: number;
}
export type CommandStatus = "Success" | "Failed" | "TimedOut" | "Undeliverable";
export interface CommandResult {
  instanceId: string;
  status: CommandStatus;
  exitCode: number;
  stdout: string;
  stderr: string;
}
