// Reads a node program's settings from the environment, once, through one zod schema.
import { z } from "zod";
import { ConfigError, formatIssues } from "../../functions/domain/errors.ts";

export const etcdEndpoints = z
  .string()
  .default("http://127.0.0.1:2379")
  .transform((s) =>
    s
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.url({ protocol: /^https?$/ })).min(1, "at least one etcd URL"));

export const bool = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

export const int = (min: number, max: number, dflt: number) =>
  z.coerce.number().int().min(min).max(max).default(dflt);

/** Parse `env` with `schema`; every bad or missing variable is named in one ConfigError. */
export function loadEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // An empty variable means "not set" (unit files pass `-e NAME=` for absent settings).
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const r = schema.safeParse(clean);
  if (!r.success) {
    throw new ConfigError(`invalid or missing configuration: ${formatIssues(r.error.issues).join("; ")}`);
  }
  return r.data;
}
