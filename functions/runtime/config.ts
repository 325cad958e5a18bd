// The one reader of the environment: the control plane's settings, read once per call and validated.
import { parseConfig, type Config } from "../domain/config.ts";

export type { Config } from "../domain/config.ts";

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(env);
}
