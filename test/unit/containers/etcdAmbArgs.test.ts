// etcd-amb's arguments with TLS (its unit's, or the local cluster's resolved endpoints) and the
// order of the members an SRV answer names.
import { describe, expect, it } from "vitest";
import { parseAmbArgs, srvTargets } from "../../../containers/etcd-amb/src/args.ts";
import { ConfigError } from "../../../functions/domain/errors.ts";

describe("etcd-amb arguments", () => {
  it("takes the listen address and either the discovery domain or the members", () => {
    expect(parseAmbArgs(["--listen-addr=127.0.0.1:2379", "--discovery-srv=dev.internal"])).toEqual({
      listen: { address: "127.0.0.1", port: 2379 },
      discoverySrv: "dev.internal",
    });
    expect(
      parseAmbArgs([
        "--listen-addr=127.0.0.1:2379",
        "--endpoints=127.77.1.1:2379,https://i-0abc12345678.dev.internal:2379",
      ]),
    ).toEqual({
      listen: { address: "127.0.0.1", port: 2379 },
      endpoints: ["127.77.1.1:2379", "i-0abc12345678.dev.internal:2379"],
    });
  });

  it("refuses what it cannot use, naming it", () => {
    const bad: [string[], RegExp][] = [
      [["--discovery-srv=dev.internal"], /--listen-addr=<address>:<port> is required/],
      [["--listen-addr=127.0.0.1:2379"], /one of --endpoints/],
      [
        ["--listen-addr=127.0.0.1:2379", "--endpoints=a:1", "--discovery-srv=dev.internal"],
        /one of --endpoints/,
      ],
      [["--listen-addr=127.0.0.1:2379", "--endpoints=http://127.77.1.1:2379"], /serve TLS, not http/],
      [["--listen-addr=127.0.0.1:99999", "--discovery-srv=dev.internal"], /not host:port/],
      [["--listen-addr=127.0.0.1:2379", "--discovery-srv=dev internal;rm"], /not a DNS name/],
      [["--listen-addr=127.0.0.1:2379", "--retry-delay=5s"], /unknown argument --retry-delay=5s/],
    ];
    for (const [argv, why] of bad) {
      expect(() => parseAmbArgs(argv), argv.join(" ")).toThrow(ConfigError);
      expect(() => parseAmbArgs(argv), argv.join(" ")).toThrow(why);
    }
  });

  it("orders SRV targets by priority, then weight; an empty answer is an error", () => {
    expect(
      srvTargets([
        { name: "i-b.dev.internal.", port: 2379, priority: 0, weight: 0 },
        { name: "i-a.dev.internal.", port: 2379, priority: 0, weight: 10 },
        { name: "i-c.dev.internal", port: 2380, priority: 1, weight: 50 },
      ]),
    ).toEqual(["i-a.dev.internal:2379", "i-b.dev.internal:2379", "i-c.dev.internal:2380"]);
    expect(() => srvTargets([])).toThrow(/no _etcd-client-ssl._tcp record/);
  });
});
