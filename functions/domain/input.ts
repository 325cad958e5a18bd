// One way to read untrusted input against a schema: the value, or an InvalidInputError listing every
// issue as `path: message`. Nothing is changed before input passes.
import type { z } from "zod";
import { InvalidInputError, formatIssues } from "./errors.ts";

export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new InvalidInputError(what, formatIssues(parsed.error.issues));
  return parsed.data;
}
