// MediaWiki on a whole local cluster (`up --services mediawiki`; its database is the default
// catalog's Postgres): a user made with the real Cognito API (moto's) signs in through the auth
// service at the front door, saves a page through wiki.<domain> with the wiki's edit token and sees
// it shown, as themself; the same identity header sent straight to the wiki is refused.
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { beforeAll, describe, expect, it } from "vitest";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../../functions/operations/users.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { status } from "../../../local/cluster/cluster.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { useLocalCluster } from "../../rig/localCluster.ts";
import { httpAsk, type HttpAnswer } from "../../rig/http.ts";
import { frontDoorSites, type AskOptions } from "../../rig/frontDoorSites.ts";

const lc = useLocalCluster({ name: "mediawiki", services: "mediawiki" });
const PASSWORD = "Correct-horse-44";
/** The front door's session and the wiki's own session cookie. */
const cookies = new Map<string, string>();

const sites = frontDoorSites(lc, {
  cookie: () => [...cookies].map(([k, v]) => `${k}=${v}`).join("; "),
  onCookies: (set) => {
    for (const c of set) {
      const i = c.indexOf("=");
      cookies.set(c.slice(0, i), c.slice(i + 1));
    }
  },
});
const ask = (path: string, opts?: AskOptions) => sites.ask("wiki", path, opts);
const askUntil = (path: string, ok: (a: HttpAnswer) => boolean, opts?: AskOptions, timeoutMs = 420_000) =>
  sites.askUntil("wiki", path, ok, opts, timeoutMs);

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

describe("MediaWiki on a local cluster", { shuffle: false }, () => {
  it("alice signs in at the front door, saves a page through wiki.<domain> and sees it shown as hers", async () => {
    const signed = await askUntil("/.auth/login", (a) => a.status === 303, {
      form: { username: "alice", password: PASSWORD, rd: "/" },
    });
    expect(signed.cookies.some((c) => c.startsWith("devcluster_session="))).toBe(true);
    // The wiki answers once its schema is installed and presence announced it.
    const tokens = await askUntil(
      "/api.php?action=query&meta=tokens|userinfo&format=json",
      (a) => a.status === 200,
    );
    const q = (
      JSON.parse(tokens.body) as { query: { tokens: { csrftoken: string }; userinfo: { name: string } } }
    ).query;
    expect(q.userinfo.name).toBe("Alice");
    const edit = await askUntil("/api.php", (a) => a.status === 200, {
      form: {
        action: "edit",
        title: "Local cluster",
        text: "Saved through the '''front door'''.",
        token: q.tokens.csrftoken,
        format: "json",
      },
    });
    expect(edit.body).toContain('"result":"Success"');
    const page = await askUntil("/wiki/Local_cluster", (a) => a.status === 200);
    expect(page.body).toContain("Saved through the <b>front door</b>.");
    const history = await askUntil(
      "/api.php?action=query&prop=revisions&titles=Local_cluster&rvprop=user&format=json",
      (a) => a.status === 200,
    );
    expect(history.body).toContain('"user":"Alice"');
    // Without the front door's session the request never reaches the wiki.
    const saved = new Map(cookies);
    cookies.clear();
    expect((await ask("/wiki/Local_cluster"))?.status).not.toBe(200);
    for (const [k, v] of saved) cookies.set(k, v);
    // The identity header sent straight to the wiki, not from a front door: refused by its nginx.
    const wiki = await pollUntil(
      async () =>
        (await status(lc.dir)).services.find((x) => x.name === "wiki")?.instances.find((i) => i.healthy),
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    expect(wiki).toBeDefined();
    const forged = await httpAsk({ address: wiki!.address, port: wiki!.port }, "/wiki/Local_cluster", {
      headers: { "x-remote-user": "alice" },
    });
    expect(forged.status).toBe(403);
  }, 900_000);
});
