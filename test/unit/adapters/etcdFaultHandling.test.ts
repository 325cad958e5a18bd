// The membership client's fault handling: etcd's refusals (gRPC UNAVAILABLE with an etcdserver
// reason) are not host failures, so they never open the per-host breaker; real connection failures
// still do, and an open breaker reaches callers as a retryable not-ready error. The errors are built
// the way grpc-js hands them to etcd3 (message and numeric code) and cast by etcd3 itself.
import { describe, expect, it } from "vitest";
import { isBrokenCircuitError } from "cockatiel";
import { castGrpcError, isRecoverableError } from "etcd3";
import { faultHandling, isHostFault, translate } from "../../../functions/adapters/etcd/clusterStore.ts";
import { ClusterNotReadyError, LearnerNotReadyError } from "../../../functions/domain/errors.ts";

const grpc = (code: number, message: string) => castGrpcError(Object.assign(new Error(message), { code }));
const UNAVAILABLE = 14;
const refusals = [
  grpc(UNAVAILABLE, "14 UNAVAILABLE: etcdserver: unhealthy cluster"),
  grpc(UNAVAILABLE, "14 UNAVAILABLE: etcdserver: not leader"),
  grpc(UNAVAILABLE, "14 UNAVAILABLE: etcdserver: leader changed"),
  grpc(9, "9 FAILED_PRECONDITION: etcdserver: too many learner members in cluster"),
];
const hostDown = () => grpc(UNAVAILABLE, "14 UNAVAILABLE: No connection established");

async function outcome(policy: ReturnType<NonNullable<typeof faultHandling.host>>, err: Error) {
  try {
    await policy.execute(() => Promise.reject(err));
    return "ok";
  } catch (e) {
    return isBrokenCircuitError(e) ? "broken" : "thrown";
  }
}

describe("etcd client fault handling", () => {
  it("etcd3 itself counts 'unhealthy cluster' as recoverable (what opened its default breaker)", () => {
    expect(isRecoverableError(refusals[0]!)).toBe(true);
  });

  it.each(refusals.map((e) => [e.message, e] as const))("%s is not a host fault", (_m, e) => {
    expect(isHostFault(e)).toBe(false);
  });

  it("ten refusals in a row leave the host's breaker closed", async () => {
    const host = faultHandling.host!("127.0.0.1:2379");
    for (let i = 0; i < 10; i++) expect(await outcome(host, refusals[i % refusals.length]!)).toBe("thrown");
  });

  it("three connection failures still open it", async () => {
    const host = faultHandling.host!("127.0.0.1:2379");
    for (let i = 0; i < 3; i++) expect(await outcome(host, hostDown())).toBe("thrown");
    expect(await outcome(host, hostDown())).toBe("broken");
  });

  it("an open breaker is a retryable not-ready error; refusals map to their typed errors", async () => {
    const host = faultHandling.host!("127.0.0.1:2379");
    let broken: unknown;
    for (let i = 0; i < 4; i++)
      await host.execute(() => Promise.reject(hostDown())).catch((e: unknown) => (broken = e));
    expect(isBrokenCircuitError(broken)).toBe(true);
    expect(() => translate(broken)).toThrow(ClusterNotReadyError);
    expect(() => translate(refusals[0])).toThrow(ClusterNotReadyError);
    expect(() => translate(refusals[3])).toThrow(ClusterNotReadyError);
    expect(() =>
      translate(
        grpc(
          9,
          "9 FAILED_PRECONDITION: etcdserver: can only promote a learner member which is in sync with leader",
        ),
      ),
    ).toThrow(LearnerNotReadyError);
    const other = hostDown();
    expect(() => translate(other)).toThrow(other);
  });
});
