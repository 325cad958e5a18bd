// The hostile-input suite: every kind of hostile or broken input the security review named, and the
// test that proves it is refused with a clear error and changes nothing (etcd, moto and node
// directories compared before and after). The tests live beside the code they exercise, with the
// rigs they need; this list is the one place that says which input is covered where, and it is
// checked: a renamed, moved or deleted test fails here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

interface Covered {
  /** The hostile input, as the review put it. */
  input: string;
  /** Test files (from the project root) and the exact titles of the tests that refuse it. */
  tests: { file: string; title: string }[];
}

export const HOSTILE_INPUTS: Covered[] = [
  {
    input:
      "a volume restore or move naming another volume's, another cluster's, an unknown or an unfinished snapshot, an unknown volume or zone, or a malformed volume event",
    tests: [
      {
        file: "test/unit/operations/volumesOnFakes.test.ts",
        title: "restore refuses an unknown, incomplete or other volume's snapshot with nothing changed",
      },
      {
        file: "test/unit/operations/volumesOnFakes.test.ts",
        title: "move: a snapshot now, a volume from it in the other zone, and the unit placed there",
      },
      {
        file: "test/unit/cli/ops.test.ts",
        title: "volume: refuses bad usage before anything is contacted",
      },
    ],
  },
  {
    input: "a certificate rotation naming an instance outside the cluster's groups, or a malformed request",
    tests: [
      {
        file: "test/integration/operations/rotateCertificate.test.ts",
        title: "refuses an instance outside the cluster's groups and a malformed request, changing nothing",
      },
    ],
  },
  {
    input: "forged and mismatched lifecycle events (group/instance pairing, state, another cluster's group)",
    tests: [
      {
        file: "test/integration/operations/lifecycle.test.ts",
        title: "refuses forged events against real etcd and moto: nothing changed, nothing completed",
      },
      {
        file: "test/unit/operations/lifecycleOnFakes.test.ts",
        title: "refuses a stray instance without the cluster tag: no record, no A record",
      },
    ],
  },
  {
    input: "malformed lifecycle events, events for instances that do not exist",
    tests: [
      {
        file: "test/integration/operations/lifecycle.test.ts",
        title:
          "answers a terminate for a node etcd never knew, a launch for a missing instance, a malformed event",
      },
    ],
  },
  {
    input: "empty and partial unit catalogs (they would stop etcd on every main node)",
    tests: [
      {
        file: "test/integration/operations/units.test.ts",
        title:
          "refuses a catalog without a main node's units unless confirmed, pushes one main node per command, and refuses non-unit keys",
      },
      {
        file: "test/unit/cli/cli.test.ts",
        title: "refuses a catalog without etcd's own unit (it would stop etcd on every main node)",
      },
    ],
  },
  {
    input: "`__proto__`, `../` and `-` keys in a catalog (unit names starting with `-`)",
    tests: [
      {
        file: "test/integration/operations/units.test.ts",
        title:
          "refuses a catalog without a main node's units unless confirmed, pushes one main node per command, and refuses non-unit keys",
      },
    ],
  },
  {
    input:
      "path escapes and option injection in the local systemctl stand-in (`/opt/bin/../..`, EnvironmentFile outside the node, `$(...)` in values, `-` unit names)",
    tests: [
      {
        file: "test/integration/local/commands.test.ts",
        title:
          "keeps a unit inside its node: no program or environment file outside it, nothing sourced, no option as a name",
      },
    ],
  },
  {
    input: "shell metacharacters in values that go into node scripts",
    tests: [
      {
        file: "test/unit/domain/restorePlan.test.ts",
        title: "refuses values that would break out of the script",
      },
      {
        file: "test/unit/domain/lifecyclePlans.test.ts",
        title: "refuses values that would expand in the heredoc",
      },
      { file: "test/unit/domain/survivorPlan.test.ts", title: "refuses a stamp that could inject shell" },
    ],
  },
  {
    input: "corrupt and truncated snapshots",
    tests: [
      {
        file: "test/integration/operations/restore.test.ts",
        title: "after total loss, refuses a corrupted or truncated snapshot and changes nothing",
      },
    ],
  },
  {
    input: "malformed restore input, a wrong confirmation, a restore while the cluster serves",
    tests: [
      {
        file: "test/integration/operations/restore.test.ts",
        title: "refuses malformed input and a wrong confirmation before touching anything",
      },
      {
        file: "test/integration/operations/restore.test.ts",
        title: "refuses while a healthy cluster still serves",
      },
    ],
  },
  {
    input:
      "missing secrets and grants (the front door's TLS parameters, a node role that cannot read the snapshot)",
    tests: [
      {
        file: "test/containers/frontdoor.test.ts",
        title: "refuses to start when its TLS parameters are missing (exit 1, nothing listening)",
      },
      {
        file: "test/integration/operations/restore.test.ts",
        title: "refuses, with etcd untouched, when the nodes' role cannot read the snapshot",
      },
    ],
  },
  {
    input: "a caller without the permission (IAM enforced), a forged or foreign signature",
    tests: [
      { file: "test/integration/rig.test.ts", title: "refuses keys it never issued" },
      {
        file: "test/integration/rig.test.ts",
        title:
          "authenticates curl's signed requests: the signer's policy holds, a wrong secret or another prefix is refused",
      },
    ],
  },
];

const ROOT = join(import.meta.dirname, "..");

describe("the hostile-input suite", () => {
  it.each(HOSTILE_INPUTS.map((c) => [c.input, c] as const))(
    "%s: covered by tests that exist",
    (_input, c) => {
      expect(c.tests.length).toBeGreaterThan(0);
      for (const t of c.tests) {
        const source = readFileSync(join(ROOT, t.file), "utf8");
        // The title as written in an it(...) call, quoted as the source quotes it.
        const quoted = [JSON.stringify(t.title), `'${t.title}'`, `\`${t.title}\``];
        expect(
          quoted.some((q) => source.includes(`it(${q}`) || source.includes(`it(\n    ${q}`)),
          `${t.file}: ${t.title}`,
        ).toBe(true);
      }
    },
  );
});
