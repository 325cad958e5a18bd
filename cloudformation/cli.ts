// `devcluster synth | validate`: print or write the template, and check it with cfn-lint.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, renameSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { CFN_LINT, requireTool } from "../local/paths.ts";
import { buildTemplate } from "./template.ts";
import { resolveOptions, type SynthOptions } from "./options.ts";
import type { Template } from "./cfn.ts";

export interface SynthResult {
  template: Template;
  json: string;
  /** Where the template was written, if `out` was given. */
  path?: string;
}

/**
 * Synthesise the template. With `out`, write it there atomically (temp file + rename) — only
 * after synthesis succeeded, so a bad option leaves nothing behind.
 */
export function synth(options: Partial<SynthOptions> = {}, out?: string): SynthResult {
  const template = buildTemplate(options);
  const json = JSON.stringify(template, null, 2) + "\n";
  if (!out) return { template, json };
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, json);
  renameSync(tmp, out);
  return { template, json, path: out };
}

export interface LintMatch {
  Rule: { Id: string; Description: string };
  Level: "Error" | "Warning" | "Informational";
  Message: string;
  Location: { Path: (string | number)[] };
}

export interface ValidateResult {
  ok: boolean;
  errors: LintMatch[];
  warnings: LintMatch[];
  informational: LintMatch[];
}

/**
 * Rules ignored, with reasons (cfn-lint `--ignore-checks`). Kept empty unless a finding is wrong
 * for this template; each entry must say why.
 */
export const IGNORED_CHECKS: Record<string, string> = {};

const run = promisify(execFile);

/** Run cfn-lint (from the project venv) on a template; ok when there is no error. */
export async function validate(
  template: Template | string,
  opts: { region?: string } = {},
): Promise<ValidateResult> {
  const cfnLint = requireTool(CFN_LINT, "run scripts/install-deps.sh (cfn-lint lives in the project venv)");
  const dir = mkdtempSync(join(tmpdir(), "devcluster-cfn-"));
  try {
    const file = join(dir, "template.json");
    writeFileSync(file, typeof template === "string" ? template : JSON.stringify(template));
    const region = opts.region ?? resolveOptions().region;
    const args = ["--format", "json", "--regions", region, "--include-checks", "I"];
    const ignored = Object.keys(IGNORED_CHECKS);
    if (ignored.length) args.push("--ignore-checks", ...ignored);
    args.push("--", file);
    let stdout: string;
    try {
      ({ stdout } = await run(cfnLint, args, { maxBuffer: 32 * 1024 * 1024 }));
    } catch (e) {
      // cfn-lint exits non-zero when it finds anything; its JSON is still on stdout.
      const err = e as { stdout?: string; stderr?: string; code?: number };
      if (!err.stdout)
        throw new Error(`cfn-lint failed (exit ${err.code}): ${err.stderr ?? e}`, { cause: e });
      stdout = err.stdout;
    }
    const matches = JSON.parse(stdout || "[]") as LintMatch[];
    const errors = matches.filter((m) => m.Level === "Error");
    return {
      ok: errors.length === 0,
      errors,
      warnings: matches.filter((m) => m.Level === "Warning"),
      informational: matches.filter((m) => m.Level === "Informational"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One line per finding, for printing. */
export function formatFindings(r: ValidateResult): string[] {
  return [...r.errors, ...r.warnings, ...r.informational].map(
    (m) => `${m.Level} ${m.Rule.Id} ${m.Location.Path.join("/")}: ${m.Message}`,
  );
}
