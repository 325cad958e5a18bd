// The error family: who can act on each error, and one way to read input against a schema.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  ClusterNotReadyError,
  ConfigError,
  DeadlineError,
  DevclusterError,
  InvalidInputError,
  InvariantError,
  LockBusyError,
  NotFoundError,
  RefusedError,
  formatIssues,
} from "../../../functions/domain/errors.ts";
import { parseInput } from "../../../functions/domain/input.ts";
import { isRetryable } from "../../../functions/adapters/aws/route53Dns.ts";

describe("error family", () => {
  it("says who can act: the user for input, refusals and configuration; the system otherwise", () => {
    for (const e of [
      new InvalidInputError("x"),
      new ConfigError("x"),
      new NotFoundError("x"),
      new RefusedError("x"),
    ]) {
      expect([e.name, e.source]).toEqual([e.constructor.name, "user"]);
    }
    for (const e of [
      new LockBusyError("x"),
      new ClusterNotReadyError("x"),
      new DeadlineError("x"),
      new InvariantError("x"),
      new DevclusterError("x"),
    ]) {
      expect([e.name, e.source]).toEqual([e.constructor.name, "system"]);
    }
  });

  it("keeps the cause", () => {
    const cause = new Error("socket hang up");
    const e = new InvalidInputError("bad", ["a: b"], { cause });
    expect(e.cause).toBe(cause);
    expect(e.message).toBe("bad: a: b");
    expect(new ClusterNotReadyError("later", { cause }).cause).toBe(cause);
  });

  it("reads input against a schema, listing every issue by path", () => {
    const schema = z.object({ confirm: z.string(), n: z.number().int() }).strict();
    expect(parseInput(schema, { confirm: "c", n: 1 }, "invalid input")).toEqual({ confirm: "c", n: 1 });
    const bad = () => parseInput(schema, { n: 1.5, extra: true }, "invalid restore input");
    expect(bad).toThrow(InvalidInputError);
    try {
      bad();
    } catch (e) {
      const issues = (e as InvalidInputError).issues;
      expect(issues.some((i) => i.startsWith("confirm: "))).toBe(true);
      expect(issues.some((i) => i.startsWith("n: "))).toBe(true);
      expect(issues.some((i) => i.startsWith("input: ") && i.includes("extra"))).toBe(true);
    }
    expect(formatIssues([{ path: ["a", 0, "b"], message: "m" }])).toEqual(["a.0.b: m"]);
  });
});

describe("AWS errors are told apart by name, not message", () => {
  const named = (name: string, message = "whatever") => Object.assign(new Error(message), { name });
  it("retries Route 53's throttling codes and 429/503", () => {
    expect(isRetryable(named("Throttling"))).toBe(true);
    expect(isRetryable(named("PriorRequestNotComplete"))).toBe(true);
    expect(
      isRetryable(Object.assign(named("ServiceUnavailable"), { $metadata: { httpStatusCode: 503 } })),
    ).toBe(true);
    expect(isRetryable(named("InvalidChangeBatch", "Rate exceeded"))).toBe(false);
    expect(isRetryable("Throttling")).toBe(false);
  });
});
