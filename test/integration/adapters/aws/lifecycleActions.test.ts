// moto lacks CompleteLifecycleAction and RecordLifecycleActionHeartbeat: the adapter is tested with
// the real SDK against recorded AWS responses (test/fixtures/autoscaling) served on loopback.
import { createServer, type Server } from "node:http";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { awsLifecycleActions } from "../../../../functions/adapters/aws/lifecycleActions.ts";

const fixture = (n: string) =>
  readFileSync(new URL(`../../../fixtures/autoscaling/${n}`, import.meta.url), "utf8");

let server: Server;
let requests: URLSearchParams[] = [];
let reply: { status: number; body: string } = { status: 200, body: "" };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      requests.push(new URLSearchParams(body));
      res.writeHead(reply.status, { "content-type": "text/xml" });
      res.end(reply.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  requests = [];
});

function adapter() {
  const addr = server.address() as { port: number };
  const client = new AutoScalingClient({
    endpoint: `http://127.0.0.1:${addr.port}`,
    region: "eu-west-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  return awsLifecycleActions(client);
}

const ref = { groupName: "dev-main", hookName: "launch", instanceId: "i-0598c7d356eba48d7", token: "tok-1" };

describe("awsLifecycleActions", () => {
  it("sends CompleteLifecycleAction with the group, hook, instance, token and result", async () => {
    reply = { status: 200, body: fixture("complete-lifecycle-action.ok.xml") };
    await adapter().complete(ref, "ABANDON");
    expect(requests).toHaveLength(1);
    const p = requests[0]!;
    expect(Object.fromEntries(p)).toMatchObject({
      Action: "CompleteLifecycleAction",
      AutoScalingGroupName: "dev-main",
      LifecycleHookName: "launch",
      InstanceId: "i-0598c7d356eba48d7",
      LifecycleActionToken: "tok-1",
      LifecycleActionResult: "ABANDON",
    });
  });

  it("sends RecordLifecycleActionHeartbeat", async () => {
    reply = { status: 200, body: fixture("record-heartbeat.ok.xml") };
    await adapter().heartbeat(ref);
    expect(requests[0]!.get("Action")).toBe("RecordLifecycleActionHeartbeat");
    expect(requests[0]!.get("LifecycleActionToken")).toBe("tok-1");
  });

  it("treats an action that is already complete as done (retried events)", async () => {
    reply = { status: 400, body: fixture("no-active-action.error.xml") };
    await expect(adapter().complete(ref, "CONTINUE")).resolves.toBeUndefined();
    await expect(adapter().heartbeat(ref)).resolves.toBeUndefined();
  });

  it("surfaces other errors", async () => {
    reply = {
      status: 400,
      body: fixture("no-active-action.error.xml").replace(
        /No active Lifecycle Action found[^<]*/,
        "Rate exceeded",
      ),
    };
    await expect(adapter().complete(ref, "CONTINUE")).rejects.toThrow(/Rate exceeded/);
  });
});
