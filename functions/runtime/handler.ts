// What every Lambda shell shares: a logger for the invocation (request id, cold start), rejected input
// logged with its issues, the result returned as Lambda's answer.
import { randomUUID } from "node:crypto";
import { InvalidInputError } from "../domain/errors.ts";
import type { Logger } from "../ports/log.ts";
import { invocationLogger } from "./log.ts";

export type LambdaHandler<R> = (event: unknown, context?: { awsRequestId?: string }) => Promise<R>;

export function lambdaHandler<R>(
  fn: string,
  run: (event: unknown, log: Logger) => Promise<R>,
): LambdaHandler<R> {
  return async (event, context) => {
    const log = invocationLogger(fn, context?.awsRequestId ?? randomUUID());
    try {
      return await run(event, log);
    } catch (e) {
      if (e instanceof InvalidInputError) log.error("rejected input", { error: e.message, issues: e.issues });
      throw e;
    }
  };
}
