// Gerrit on a whole local cluster (`up --services gerrit`): a user made with the real Cognito API
// signs in at the front door, which passes her name to Gerrit as X-Remote-User; she makes a project
// and registers an SSH key through the front door over HTTPS, pushes a change with git over SSH to
// the front door's TCP stream (port 29418), and sees the change listed over HTTPS. Slow: a cluster
// with Gerrit in it (its image built on a fresh machine, then a JVM start and the site's init).
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { beforeAll, describe, expect, it } from "vitest";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../../functions/operations/users.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { status } from "../../../local/cluster/cluster.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { useLocalCluster } from "../../rig/localCluster.ts";
import type { HttpAnswer } from "../../rig/http.ts";
import { frontDoorSites, type AskOptions } from "../../rig/frontDoorSites.ts";

const sh = promisify(execFile);
const lc = useLocalCluster({ name: "gerrit", frontDoorTls: true, services: "gerrit" });
const PASSWORD = "Correct-horse-42";
let cookie = "";
let ca = "";

const admin = () => ({ endpoint: lc.state.motoEndpoint, region: LOCAL_REGION, credentials: lc.state.admin });

const sites = frontDoorSites(lc, { ca: () => ca, cookie: () => cookie, intervalMs: 2000 });
const frontDoor = sites.frontDoor;
const ask = (path: string, opts?: AskOptions) => sites.ask("gerrit", path, opts);
/** Gerrit starts in about a minute, several under load. */
const askUntil = (path: string, ok: (a: HttpAnswer) => boolean, opts?: AskOptions, timeoutMs = 480_000) =>
  sites.askUntil("gerrit", path, ok, opts, timeoutMs);

const json = (a: HttpAnswer) => JSON.parse(a.body.replace(/^\)\]\}'\n/, "")) as unknown;

beforeAll(async () => {
  ca = readFileSync(lc.state.frontDoorTls!.caFile, "utf8");
  const cognito = new CognitoIdentityProviderClient(admin());
  await addUser(cognitoUserDirectory(cognito, lc.state.userPool!.userPoolId), "alice", {
    password: PASSWORD,
    groups: ["developers"],
  });
}, 60_000);

describe("gerrit on the local cluster", { shuffle: false }, () => {
  it("is healthy, behind sign-in at the front door", async () => {
    const healthy = await pollUntil(
      async () =>
        (await status(lc.dir)).services.find((x) => x.name === "gerrit")?.instances.some((i) => i.healthy) ||
        undefined,
      { timeoutMs: 600_000, intervalMs: 2000 },
    );
    expect(healthy).toBe(true);
    // Without a session the front door answers, not Gerrit (it sends the browser to sign in).
    const anonymous = await askUntil("/a/accounts/self", (a) => a.status !== 502 && a.status !== 503);
    expect(anonymous.status).not.toBe(200);
    const signed = await askUntil("/.auth/login", (a) => a.status === 303, {
      form: { username: "alice", password: PASSWORD, rd: "/" },
    });
    cookie = signed.cookies.find((c) => c.startsWith("devcluster_session="))!;
    expect(cookie).toBeDefined();
  }, 900_000);

  it("takes a push through the front door's SSH stream and lists the change over HTTPS", async () => {
    // Her account is made on her first visit to /login/.
    await askUntil("/login/", (a) => a.status === 302);
    const self = await askUntil("/a/accounts/self", (a) => a.status === 200);
    expect((json(self) as { username: string }).username).toBe("alice");
    const project = "demo";
    const made = await ask(`/a/projects/${project}`, {
      method: "PUT",
      json: { create_empty_commit: true },
      headers: { "content-type": "application/json" },
    });
    expect(made?.status, made?.body).toBe(201);

    const keys = join(lc.base, "keys");
    mkdirSync(keys);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", join(keys, "alice")]);
    const added = await ask("/a/accounts/self/sshkeys", {
      method: "POST",
      body: readFileSync(join(keys, "alice.pub"), "utf8"),
      headers: { "content-type": "text/plain" },
    });
    expect(added?.status, added?.body).toBe(201);

    // The host key the front door's stream leads to is Gerrit's, the one kept in SSM.
    const door = (await frontDoor())!;
    const stored = (
      await new SSMClient(admin()).send(
        new GetParameterCommand({
          Name: `/devcluster/${lc.state.clusterName}/db/gerrit/ssh-host-key`,
          WithDecryption: true,
        }),
      )
    ).Parameter!.Value!;
    writeFileSync(join(keys, "host"), stored.endsWith("\n") ? stored : `${stored}\n`, { mode: 0o600 });
    const hostPub = execFileSync("ssh-keygen", ["-y", "-f", join(keys, "host")], { encoding: "utf8" })
      .trim()
      .split(" ")
      .slice(0, 2)
      .join(" ");
    writeFileSync(join(keys, "known_hosts"), `[${door}]:29418 ${hostPub}\n`);
    const work = join(lc.base, "work");
    mkdirSync(work);
    const git = (args: string[]) =>
      sh("git", args, {
        cwd: work,
        env: {
          ...process.env,
          GIT_SSH_COMMAND: `ssh -i ${join(keys, "alice")} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${join(keys, "known_hosts")} -p 29418`,
          GIT_AUTHOR_NAME: "alice",
          GIT_AUTHOR_EMAIL: "alice@example.test",
          GIT_COMMITTER_NAME: "alice",
          GIT_COMMITTER_EMAIL: "alice@example.test",
        },
      });
    const url = `ssh://alice@${door}:29418/${project}`;
    await git(["init", "-q", "-b", "master"]);
    await git(["fetch", "-q", url, "master"]);
    await git(["checkout", "-q", "-b", "topic", "FETCH_HEAD"]);
    writeFileSync(join(work, "NOTES"), "through the front door\n");
    await git(["add", "NOTES"]);
    const changeId = `I${"fedcba9876543210".repeat(3).slice(0, 40)}`;
    await git(["commit", "-q", "-m", `Add notes\n\nChange-Id: ${changeId}`]);
    const pushed = await git(["push", url, "HEAD:refs/for/master"]);
    expect(pushed.stderr).toContain("SUCCESS");
    // Gerrit's answer names the change at the cluster's address, not the node's.
    expect(pushed.stderr).toContain(`https://gerrit.${lc.state.domain}/c/${project}/+/`);

    const listed = await ask(`/a/changes/?q=${encodeURIComponent(`project:${project}`)}`);
    expect(listed?.status, listed?.body).toBe(200);
    const changes = json(listed!) as { subject: string; change_id: string; status: string }[];
    expect(changes.map((c) => [c.subject, c.change_id, c.status])).toEqual([["Add notes", changeId, "NEW"]]);
  }, 600_000);
});
