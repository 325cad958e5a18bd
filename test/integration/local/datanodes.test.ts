// The data nodes on a whole local cluster (`up --data 1 --services ferretdb`): FerretDB is placed on
// the data node by its machine metadata, announced by presence, answers the official MongoDB driver
// with the password the service made in SSM, and keeps a document when its node is killed and the
// volume follows the unit to the node that replaces it.
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { kill, status } from "../../../local/cluster/cluster.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { useLocalCluster } from "../../rig/localCluster.ts";

const lc = useLocalCluster({ name: "datanodes", services: "ferretdb", data: 1 });

/** The healthy announced instance of ferretdb, with its node's role. */
async function ferretdb() {
  const s = await status(lc.dir);
  const i = s.services.find((x) => x.name === "ferretdb")?.instances.find((x) => x.healthy);
  return i && { ...i, role: s.nodes.find((n) => n.id === i.node)?.role };
}

/** Runs `f` with a client signed in as the service's administrator; undefined when it cannot. */
async function asAdmin<T>(
  at: { address: string; port: number },
  password: string,
  f: (c: MongoClient) => Promise<T>,
) {
  const c = new MongoClient(`mongodb://${at.address}:${at.port}/`, {
    auth: { username: "admin", password },
    authSource: "admin",
    directConnection: true,
    serverSelectionTimeoutMS: 10_000,
  });
  try {
    await c.connect();
    return await f(c);
  } finally {
    await c.close();
  }
}

describe("data nodes on a local cluster", { shuffle: false }, () => {
  it("FerretDB runs on the data node, answers a MongoDB client, and keeps its data when the node is killed", async () => {
    const first = await pollUntil(ferretdb, { timeoutMs: 600_000, intervalMs: 2000 });
    expect(first, JSON.stringify((await status(lc.dir)).services.map((x) => x.name))).toBeDefined();
    expect(first!.role).toBe("data");
    const ssm = new SSMClient({
      endpoint: lc.state.motoEndpoint,
      region: LOCAL_REGION,
      credentials: lc.state.admin,
    });
    const password = (
      await ssm.send(
        new GetParameterCommand({
          Name: `/devcluster/${lc.state.clusterName}/db/ferretdb/admin/password`,
          WithDecryption: true,
        }),
      )
    ).Parameter!.Value!;
    await asAdmin(first!, password, (c) =>
      c
        .db("team")
        .collection("kept")
        .insertOne({ _id: "doc-1" as never, body: "written on a data node" }),
    );
    await kill(lc.dir, first!.node, () => {});
    const moved = await pollUntil(
      async () => {
        const i = await ferretdb();
        return i && i.node !== first!.node ? i : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 2000 },
    );
    expect(moved).toBeDefined();
    expect(moved!.role).toBe("data");
    const doc = await pollUntil(
      () =>
        asAdmin(moved!, password, (c) =>
          c
            .db("team")
            .collection("kept")
            .findOne({ _id: "doc-1" as never }),
        ).catch(() => undefined),
      { timeoutMs: 120_000, intervalMs: 2000 },
    );
    expect(doc).toEqual({ _id: "doc-1", body: "written on a data node" });
  }, 1_500_000);
});
