// The control plane's events through CloudWatch Logs on moto: what the local function host ships
// (as Lambda does) is what the operator's tools read back, newest last, across the functions' groups,
// with Lambda's own lines and cut lines left out. The shipping runs as a role allowed to write to
// its own group only, as a function's role is (moto 5.2.5 does not evaluate IAM for CloudWatch Logs:
// a write to another group passes there, so the grant itself is held by the template's tests).
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { beforeAll, describe, expect, it } from "vitest";
import { logGroupOf, readCloudWatchEvents } from "../../../bin/ops/cloudWatchEvents.ts";
import { LogShipper } from "../../../local/cluster/logShipper.ts";
import { useRig } from "../../rig/index.ts";

const rig = useRig({ moto: true });
let logs: CloudWatchLogsClient;
let a: string;
let b: string;

const line = (fn: string, msg: string, time: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level: "info", time, msg, fn, ...extra });

beforeAll(async () => {
  logs = new CloudWatchLogsClient({});
  a = logGroupOf(rig.unique("lifecycle"));
  b = logGroupOf(rig.unique("reconcile"));
  for (const g of [a, b]) await logs.send(new CreateLogGroupCommand({ logGroupName: g }));
}, 60_000);

describe("events in CloudWatch Logs", () => {
  it("what a function's role ships is read back across groups, oldest first, the newest `limit`", async () => {
    const creds = await rig.roleCredentials([
      {
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: `arn:aws:logs:*:*:log-group:${a}:*`,
      },
    ]);
    const asRole = new CloudWatchLogsClient({
      credentials: {
        accessKeyId: creds.accessKeyId,
        secretAccessKey: creds.secretAccessKey,
        ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}),
      },
    });
    const shipA = new LogShipper(asRole, a);
    expect(shipA.streamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    shipA.add("START RequestId: 1 Version: $LATEST");
    shipA.add(line("lifecycle", "launch.started", "2026-01-01T00:00:01.000Z", { node: "i-1" }));
    shipA.add('{"level":"info","msg":"cut');
    await shipA.flush();
    await new Promise((r) => setTimeout(r, 5)); // distinct timestamps between the two groups' lines
    const shipB = new LogShipper(logs, b);
    shipB.add(line("reconcile", "reconcile.done", "2026-01-01T00:00:02.000Z"));
    await shipB.flush();
    await new Promise((r) => setTimeout(r, 5));
    shipA.add(line("lifecycle", "launch.done", "2026-01-01T00:00:03.000Z"));
    await shipA.flush();
    await shipA.flush(); // nothing pending: no call, no duplicate

    const all = await readCloudWatchEvents(logs, [a, b], 10);
    expect(all.map((e) => [e.fn, e.msg])).toEqual([
      ["lifecycle", "launch.started"],
      ["reconcile", "reconcile.done"],
      ["lifecycle", "launch.done"],
    ]);
    expect(all[0]!.fields).toEqual({ node: "i-1" });
    expect((await readCloudWatchEvents(logs, [a, b], 2)).map((e) => e.msg)).toEqual([
      "reconcile.done",
      "launch.done",
    ]);

    asRole.destroy();
  });

  it("a group that does not exist yet has no events; lines older than the window are left out", async () => {
    expect(await readCloudWatchEvents(logs, [logGroupOf(rig.unique("never"))], 10)).toEqual([]);
    const g = logGroupOf(rig.unique("old"));
    await logs.send(new CreateLogGroupCommand({ logGroupName: g }));
    const ship = new LogShipper(logs, g);
    ship.add(line("snapshot", "recent", "2026-01-01T00:00:00.000Z"));
    await ship.flush();
    // Another container's stream with a line from two hours ago (CloudWatch keeps lines up to 14 days old).
    await logs.send(new CreateLogStreamCommand({ logGroupName: g, logStreamName: "earlier" }));
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: g,
        logStreamName: "earlier",
        logEvents: [{ timestamp: Date.now() - 2 * 3600_000, message: line("snapshot", "old", "x") }],
      }),
    );
    expect((await readCloudWatchEvents(logs, [g], 10)).map((e) => e.msg)).toEqual(["recent"]);
    expect((await readCloudWatchEvents(logs, [g], 10, 3 * 3600_000)).map((e) => e.msg)).toEqual([
      "old",
      "recent",
    ]);
  });
});
