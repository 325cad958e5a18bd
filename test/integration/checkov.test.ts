// checkov (PyPI) on both templates, the standalone one and the one `sls package` ships: every failed
// check is in cloudformation/checkov-allow.json with its reason, and every entry there still applies.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildTemplate } from "../../cloudformation/template.ts";
import { CHECKOV, PROJECT_ROOT, requireTool } from "../../local/paths.ts";
import { buildInto, packageService } from "../../scripts/serverless.ts";

interface Allowed {
  check: string;
  resource: string;
  reason: string;
}
const ALLOW = JSON.parse(
  readFileSync(join(PROJECT_ROOT, "cloudformation", "checkov-allow.json"), "utf8"),
) as Allowed[];

const dir = mkdtempSync(join(tmpdir(), "devcluster-checkov-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** checkov's failed checks on these files, as `<check> <resource>`. */
function failedChecks(files: string[]): Promise<string[]> {
  requireTool(CHECKOV, "run scripts/install-deps.sh");
  return new Promise((done, fail) =>
    execFile(
      CHECKOV,
      [
        ...files.flatMap((f) => ["-f", f]),
        "--framework",
        "cloudformation",
        "--quiet",
        "--compact",
        "-o",
        "json",
      ],
      { maxBuffer: 64 * 1024 * 1024 },
      // checkov exits 1 when a check fails: the report is what counts.
      (_err, stdout, stderr) => {
        try {
          const parsed = JSON.parse(stdout) as unknown;
          const reports = (Array.isArray(parsed) ? parsed : [parsed]) as {
            results?: { failed_checks?: { check_id: string; resource: string }[] };
          }[];
          done(
            reports.flatMap((r) =>
              (r.results?.failed_checks ?? []).map((c) => `${c.check_id} ${c.resource}`),
            ),
          );
        } catch {
          fail(new Error(`checkov gave no report: ${stderr.slice(0, 2000)}`));
        }
      },
    ),
  );
}

describe("checkov", () => {
  it("every allow-list entry gives its reason", () => {
    expect(ALLOW.length).toBeGreaterThan(0);
    for (const a of ALLOW) expect(a.reason.length, `${a.check} ${a.resource}`).toBeGreaterThan(40);
  });

  it("finds nothing unexplained in the standalone and the packaged template, and every entry still applies", async () => {
    const standalone = join(dir, "standalone.json");
    writeFileSync(standalone, JSON.stringify(buildTemplate()));
    const service = join(dir, "service");
    const artifact = join(dir, "artifact");
    await buildInto(service);
    await packageService({ dir: service, artifact, params: { domain: "dev.example.internal" } });
    const found = new Set(
      await failedChecks([
        standalone,
        join(artifact, "cloudformation-template-update-stack.json"),
        join(artifact, "cloudformation-template-create-stack.json"),
      ]),
    );
    const allowed = new Set(ALLOW.map((a) => `${a.check} ${a.resource}`));
    expect([...found].filter((f) => !allowed.has(f)).sort()).toEqual([]);
    expect([...allowed].filter((a) => !found.has(a)).sort()).toEqual([]);
  }, 400_000);

  it("can fail: a public, unencrypted bucket is reported", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({
        AWSTemplateFormatVersion: "2010-09-09",
        Resources: { Open: { Type: "AWS::S3::Bucket", Properties: { AccessControl: "PublicReadWrite" } } },
      }),
    );
    const found = await failedChecks([bad]);
    expect(found.some((f) => f.endsWith("AWS::S3::Bucket.Open"))).toBe(true);
  }, 120_000);
});
