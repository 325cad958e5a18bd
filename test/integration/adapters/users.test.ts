// `devcluster users ...` against moto's cognito-idp: the command line and the operations behind it,
// on a pool made with the template's settings. Bad input changes nothing; repeats change nothing.
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { useRig } from "../../rig/index.ts";
import { ensureUserPool } from "../../../functions/adapters/aws/cognitoPool.ts";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../../functions/operations/users.ts";
import { usersCommand } from "../../../bin/users.ts";
import type { UserRecord } from "../../../functions/ports/users.ts";
import { DescribeParametersCommand, GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { clusterKeyAlias } from "../../../functions/domain/clusterKey.ts";
import { sessionKeyParameterName } from "../../../functions/domain/users.ts";
import { parseKeys } from "../../../containers/auth/src/session.ts";

const rig = useRig({ moto: true });
let pool = "";

beforeAll(async () => {
  const ids = await ensureUserPool(new CognitoIdentityProviderClient({}), rig.unique("users"));
  pool = ids.userPoolId;
});
afterEach(() => vi.restoreAllMocks());

async function cli(...args: string[]): Promise<string> {
  let out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  try {
    expect(await usersCommand([...args, "--pool-id", pool])).toBe(0);
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}
const list = async () => JSON.parse(await cli("list", "--json")) as UserRecord[];

describe("devcluster users", () => {
  it("makes the pool once, with the admins and developers groups", async () => {
    const cluster = rig.unique("again");
    const c = new CognitoIdentityProviderClient({});
    const a = await ensureUserPool(c, cluster);
    expect(await ensureUserPool(c, cluster)).toEqual(a);
    expect((await cli("groups", "--json")).includes("admins")).toBe(true);
    expect(JSON.parse(await cli("groups", "--json"))).toEqual(["admins", "developers"]);
  });

  it("adds a user invited by email into groups, lists them, and a repeat changes nothing", async () => {
    expect(await cli("add", "dana", "--email", "dana@example.test", "--group", "developers")).toBe(
      "added dana to developers\n",
    );
    expect(await cli("add", "dana", "--email", "dana@example.test", "--group", "developers")).toBe(
      "dana already exists\n",
    );
    const dana = (await list()).find((u) => u.name === "dana")!;
    expect(dana).toEqual({
      name: "dana",
      email: "dana@example.test",
      enabled: true,
      status: "FORCE_CHANGE_PASSWORD",
      groups: ["developers"],
    });
  });

  it("puts users in and out of groups, idempotently", async () => {
    await cli("add", "erin", "--email", "erin@example.test");
    expect(await cli("group", "add", "erin", "admins")).toBe("added erin to admins\n");
    expect(await cli("group", "add", "erin", "admins")).toBe("erin is already in admins\n");
    expect((await list()).find((u) => u.name === "erin")!.groups).toEqual(["admins"]);
    expect(await cli("group", "remove", "erin", "admins")).toBe("removed erin from admins\n");
    expect(await cli("group", "remove", "erin", "admins")).toBe(
      "erin is not in admins (nothing to remove)\n",
    );
    expect((await list()).find((u) => u.name === "erin")!.groups).toEqual([]);
  });

  it("removes a user; removing again says so", async () => {
    await cli("add", "gone", "--email", "gone@example.test");
    expect(await cli("remove", "gone")).toBe("removed gone\n");
    expect(await cli("remove", "gone")).toBe("gone does not exist (nothing to remove)\n");
    expect((await list()).map((u) => u.name)).not.toContain("gone");
  });

  it("refuses bad input with a clear error and creates nothing", async () => {
    const before = await list();
    await expect(
      usersCommand(["add", "frank", "--email", "f@example.test", "--group", "wizards", "--pool-id", pool]),
    ).rejects.toThrow(/no such group: wizards \(groups: admins, developers\)/);
    await expect(
      usersCommand(["add", "bad name", "--email", "x@example.test", "--pool-id", pool]),
    ).rejects.toThrow(/'bad name' is not a user name/);
    await expect(
      usersCommand(["add", "frank", "--email", "not-an-address", "--pool-id", pool]),
    ).rejects.toThrow(/not an email address/);
    await expect(usersCommand(["add", "frank", "--pool-id", pool])).rejects.toThrow(
      /give --email .* or --password/,
    );
    const dir = cognitoUserDirectory(new CognitoIdentityProviderClient({}), pool);
    await expect(addUser(dir, "frank", { password: "short" })).rejects.toThrow(
      /password does not meet the pool's policy: at least 12 characters; an upper-case letter; a digit/,
    );
    await expect(usersCommand(["group", "add", "nobody", "admins", "--pool-id", pool])).rejects.toThrow(
      /no user named nobody/,
    );
    await expect(usersCommand(["frobnicate", "--pool-id", pool])).rejects.toThrow(
      /unknown subcommand 'frobnicate'/,
    );
    expect(await list()).toEqual(before);
  });

  it("sets a permanent password when one is given: the user can sign in at once", async () => {
    const dir = cognitoUserDirectory(new CognitoIdentityProviderClient({}), pool);
    await addUser(dir, "gina", { password: "Long-enough-pw-1", groups: ["developers"] });
    expect((await dir.getUser("gina"))!.status).toBe("CONFIRMED");
  });

  it("makes the session key once under the cluster key, rotates it keeping the previous one", async () => {
    const cluster = rig.unique("key");
    const ssm = new SSMClient({});
    const read = async () => {
      const p = await ssm.send(
        new GetParameterCommand({ Name: sessionKeyParameterName(cluster), WithDecryption: true }),
      );
      expect(p.Parameter!.Type).toBe("SecureString");
      return p.Parameter!.Value!.split("\n");
    };
    expect(await cli("session-key", "--cluster", cluster)).toMatch(/: created \(1 key;/);
    const [first] = await read();
    expect(parseKeys(first!)).toHaveLength(1);
    expect(await cli("session-key", "--cluster", cluster)).toMatch(/: kept \(1 key;/);
    expect(await read()).toEqual([first]);
    expect(await cli("session-key", "--cluster", cluster, "--rotate")).toMatch(/: rotated \(2 keys;/);
    const rotated = await read();
    expect(rotated).toHaveLength(2);
    expect(rotated[1]).toBe(first);
    expect(rotated[0]).not.toBe(first);
    // A second rotation drops the oldest: the newest signs, the one before still verifies.
    await cli("session-key", "--cluster", cluster, "--rotate");
    const again = await read();
    expect(again[1]).toBe(rotated[0]);
    expect(again).not.toContain(first);
    const desc = await ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: "Name", Values: [sessionKeyParameterName(cluster)] }],
      }),
    );
    expect(desc.Parameters![0]!.KeyId).toBe(clusterKeyAlias(cluster));
  });
});
