// The PHP application template and its MariaDB on a whole local cluster (`up --services phpapp`,
// which brings mariadb through phpapp's Upstreams=): a user made with the real Cognito API (moto's)
// signs in through the auth service at the front door, writes a note through phpapp.<domain> and
// reads it back as themself; the row went through the ambassador to the database on its volume.
// The same identity header sent straight to the app, not from a front door, is refused.
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { beforeAll, describe, expect, it } from "vitest";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../../functions/operations/users.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { status } from "../../../local/cluster/cluster.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { useLocalCluster } from "../../rig/localCluster.ts";
import { httpAsk } from "../../rig/http.ts";
import { frontDoorSites } from "../../rig/frontDoorSites.ts";

const lc = useLocalCluster({ name: "phpapp", services: "phpapp" });
const PASSWORD = "Correct-horse-43";
let cookie = "";

const { ask, askUntil } = frontDoorSites(lc, { cookie: () => cookie });

beforeAll(async () => {
  const cognito = new CognitoIdentityProviderClient({
    endpoint: lc.state.motoEndpoint,
    region: LOCAL_REGION,
    credentials: lc.state.admin,
  });
  await addUser(cognitoUserDirectory(cognito, lc.state.userPool!.userPoolId), "alice", {
    password: PASSWORD,
    groups: ["developers"],
  });
}, 60_000);

describe("the PHP application on a local cluster", { shuffle: false }, () => {
  it("alice signs in at the front door, writes a note through phpapp.<domain> and reads it back as herself", async () => {
    const signed = await askUntil("phpapp", "/.auth/login", (a) => a.status === 303, {
      form: { username: "alice", password: PASSWORD, rd: "/" },
    });
    cookie = signed.cookies.find((c) => c.startsWith("devcluster_session="))!;
    expect(cookie).toBeDefined();
    // The app is up once its database is (its page reads the table): both placed, started, announced.
    const before = await askUntil("phpapp", "/notes.json", (a) => a.status === 200);
    expect(JSON.parse(before.body)).toMatchObject({ user: "alice" });
    // A write is asked again only when no answer came (then the list shows whether it landed).
    const added = await askUntil("phpapp", "/", () => true, { form: { body: "written on a local cluster" } });
    expect(added.status, added.body).toBe(303);
    const after = await askUntil("phpapp", "/notes.json", (a) => a.status === 200);
    const notes = (JSON.parse(after.body) as { notes: { author: string; body: string }[] }).notes;
    expect(notes.filter((n) => n.body === "written on a local cluster").map((n) => n.author)).toEqual([
      "alice",
    ]);
    const page = await askUntil("phpapp", "/", (a) => a.status === 200);
    expect(page.body).toContain("Signed in as <b>alice</b>");
    // Without the session the front door never lets the request reach the app.
    const saved = cookie;
    cookie = "";
    expect((await ask("phpapp", "/notes.json"))?.status).not.toBe(200);
    cookie = saved;
    // The identity header sent straight to the app, not from a front door: refused by its nginx.
    // Status is asked until it shows a healthy instance (presence re-checks under load).
    const healthyOf = (service: string) =>
      pollUntil(
        async () =>
          (await status(lc.dir)).services.find((x) => x.name === service)?.instances.find((i) => i.healthy),
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
    const app = await healthyOf("phpapp");
    expect(app, JSON.stringify((await status(lc.dir)).services.map((x) => x.name))).toBeDefined();
    const forged = await httpAsk({ address: app!.address, port: app!.port }, "/notes.json", {
      headers: { "x-remote-user": "alice" },
    });
    expect(forged.status).toBe(403);
    // The database is announced healthy by presence, as every service.
    expect(await healthyOf("mariadb")).toBeDefined();
  }, 900_000);
});
