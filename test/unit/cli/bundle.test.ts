// The prebuilt command line is never stale: `bin/devcluster.js` runs the bundle only while every source
// it was built from is older than it, and rebuilds first otherwise. Checked on a scratch project (the
// real bin files over a two-file command line), so editing its sources disturbs no other test.
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../local/paths.ts";

const exec = promisify(execFile);
let root: string;

const cliSource = (word: string) =>
  `import { greeting } from "./greeting.ts";\nimport { where } from "../local/where.ts";\nconst extra: string = "${word}";\nprocess.stdout.write(greeting() + " " + extra + "\\n");\nif (process.env.WHERE) process.stdout.write(JSON.stringify(where()));\n`;
const run = async () => (await exec("node", [join(root, "bin", "devcluster.js")], { cwd: root })).stdout;
const current = () =>
  JSON.parse(readFileSync(join(root, ".build", "cli", "current.json"), "utf8")) as {
    dir: string;
    builtAt: number;
    inputs: string[];
  };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "devcluster-bundle-"));
  mkdirSync(join(root, "bin"));
  mkdirSync(join(root, "local", "cluster"), { recursive: true });
  cpSync(join(PROJECT_ROOT, "bin", "devcluster.js"), join(root, "bin", "devcluster.js"));
  cpSync(join(PROJECT_ROOT, "bin", "cliBundle.mjs"), join(root, "bin", "cliBundle.mjs"));
  symlinkSync(join(PROJECT_ROOT, "node_modules"), join(root, "node_modules"));
  writeFileSync(join(root, "package-lock.json"), "{}\n");
  writeFileSync(join(root, "bin", "greeting.ts"), `export const greeting = (): string => "hello";\n`);
  writeFileSync(join(root, "bin", "devcluster.ts"), cliSource("one"));
  writeFileSync(join(root, "local", "cluster", "functionHost.ts"), "export {};\n");
  writeFileSync(
    join(root, "local", "where.ts"),
    "export const where = () => [import.meta.url, import.meta.filename, import.meta.dirname];\n",
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the prebuilt command line", () => {
  it("is built on first use and then reused while its sources are unchanged", async () => {
    expect(await run()).toBe("hello one\n");
    const first = current();
    expect(first.inputs.sort()).toEqual([
      "bin/devcluster.ts",
      "bin/greeting.ts",
      "local/cluster/functionHost.ts",
      "local/where.ts",
    ]);
    expect(await run()).toBe("hello one\n");
    expect(current().dir).toBe(first.dir);
  }, 60_000);

  it("keeps each module's own location (a module finds project files beside its source)", async () => {
    const { stdout } = await exec("node", [join(root, "bin", "devcluster.js")], {
      cwd: root,
      env: { ...process.env, WHERE: "1" },
    });
    const file = join(root, "local", "where.ts");
    expect(JSON.parse(stdout.split("\n")[1]!)).toEqual([pathToFileURL(file).href, file, join(root, "local")]);
  }, 60_000);

  it("is rebuilt when a source it imports changed, so a stale bundle never runs", async () => {
    const before = current().dir;
    writeFileSync(join(root, "bin", "greeting.ts"), `export const greeting = (): string => "bonjour";\n`);
    // The edit's time is after the build's start even on a coarse clock.
    const later = new Date(current().builtAt + 2000);
    utimesSync(join(root, "bin", "greeting.ts"), later, later);
    expect(await run()).toBe("bonjour one\n");
    expect(current().dir).not.toBe(before);
  }, 60_000);

  it("is rebuilt when the dependency set changed (package-lock.json)", async () => {
    const before = current().dir;
    const later = new Date(current().builtAt + 2000);
    utimesSync(join(root, "package-lock.json"), later, later);
    expect(await run()).toBe("bonjour one\n");
    expect(current().dir).not.toBe(before);
  }, 60_000);

  it("keeps a replaced bundle while a live process holds it, and removes it 10 minutes after otherwise", async () => {
    const rebuild = async () => {
      const later = new Date(current().builtAt + 2000);
      utimesSync(join(root, "bin", "greeting.ts"), later, later);
      await exec("node", [join(root, "bin", "cliBundle.mjs")], { cwd: root });
    };
    const a = join(root, ".build", "cli", current().dir);
    await rebuild();
    expect(existsSync(join(a, "retired"))).toBe(true);
    const longAgo = new Date(Date.now() - 11 * 60_000);
    utimesSync(join(a, "retired"), longAgo, longAgo);
    // A long-running command (this test's own process stands for one) holds it.
    mkdirSync(join(a, "users"), { recursive: true });
    writeFileSync(join(a, "users", String(process.pid)), "");
    await rebuild();
    expect(existsSync(a)).toBe(true);
    rmSync(join(a, "users", String(process.pid)));
    const b = join(root, ".build", "cli", current().dir);
    await rebuild();
    expect(existsSync(a)).toBe(false);
    expect(existsSync(b)).toBe(true); // retired just now
  }, 60_000);

  it("is rebuilt when its bundle directory is gone, and a source that does not compile fails clearly", async () => {
    rmSync(join(root, ".build", "cli", current().dir), { recursive: true });
    expect(await run()).toBe("bonjour one\n");
    writeFileSync(join(root, "bin", "devcluster.ts"), "const = ;\n");
    const later = new Date(current().builtAt + 2000);
    utimesSync(join(root, "bin", "devcluster.ts"), later, later);
    await expect(run()).rejects.toThrow(/devcluster\.ts/);
  }, 60_000);
});
