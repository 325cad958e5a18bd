// The data nodes' settings files and peer lists, from etcd's announcements (pure).
import { describe, expect, it } from "vitest";
import { cassandraYaml, seedAddresses } from "../../../containers/cassandra/src/settings.ts";
import { clusterSettings, seedHosts } from "../../../containers/opensearch/src/settings.ts";
import { CATALOG_DIR, readCatalogDir } from "../../../functions/catalog/index.ts";
import { loadCatalog } from "../../../functions/domain/units/index.ts";
import { placeUnits } from "../../../functions/domain/units/placement.ts";

const announced = (privateIp: string, ports: Record<string, number>) => ({ privateIp, ports });

describe("opensearch's peers", () => {
  it("are every announced instance's transport address but its own, sorted and once each", () => {
    const instances = [
      announced("10.0.2.9", { http: 8920, transport: 8930 }),
      announced("10.0.1.7", { http: 8920, transport: 8930 }),
      announced("10.0.1.7", { http: 8920, transport: 8930 }),
      announced("10.0.3.3", { http: 8920 }),
      announced("10.0.0.5", { http: 8920, transport: 8930 }),
    ];
    expect(seedHosts(instances, { self: "10.0.0.5", portName: "transport" })).toEqual([
      "10.0.1.7:8930",
      "10.0.2.9:8930",
    ]);
    expect(seedHosts([], { self: "10.0.0.5", portName: "transport" })).toEqual([]);
  });

  it("only instance 1 on an empty volume bootstraps a cluster; every value is quoted", () => {
    const base = {
      cluster: "dev-opensearch",
      nodeName: "opensearch-1",
      address: "10.0.0.5",
      httpPort: 8920,
      transportPort: 8930,
      dataDir: "/data",
    };
    const first = clusterSettings({ ...base, bootstrap: true });
    expect(first).toContain('cluster.initial_cluster_manager_nodes: ["opensearch-1"]\n');
    expect(first).toContain('network.host: "10.0.0.5"\n');
    expect(first).toContain('discovery.seed_providers: "file"\n');
    expect(clusterSettings({ ...base, bootstrap: false })).not.toContain("initial_cluster_manager_nodes");
  });
});

describe("cassandra's seeds", () => {
  it("are the announced storage addresses, or the node itself when none is announced", () => {
    expect(
      seedAddresses(
        [
          announced("10.0.2.9", { cql: 8942, storage: 8700 }),
          announced("10.0.1.7", { cql: 8942, storage: 8700 }),
        ],
        "10.0.0.5",
        "storage",
        8700,
      ),
    ).toEqual(["10.0.1.7:8700", "10.0.2.9:8700"]);
    expect(seedAddresses([], "10.0.0.5", "storage", 8700)).toEqual(["10.0.0.5:8700"]);
  });

  it("are written into cassandra.yaml's seed provider", () => {
    const yaml = cassandraYaml({
      cluster: "dev-cassandra",
      address: "10.0.0.5",
      cqlPort: 8942,
      storagePort: 8700,
      dataDir: "/data",
      seeds: ["10.0.1.7:8700", "10.0.2.9:8700"],
    });
    expect(yaml).toContain(
      'seed_provider: [{"class_name":"org.apache.cassandra.locator.SimpleSeedProvider","parameters":[{"seeds":"10.0.1.7:8700,10.0.2.9:8700"}]}]\n',
    );
    expect(yaml).toContain('data_file_directories: ["/data/data"]\n');
  });
});

describe("the data services in the repository's catalog", () => {
  const catalog = loadCatalog(readCatalogDir(CATALOG_DIR, ["ferretdb", "opensearch", "cassandra"]));
  const node = (id: string, role: string) => ({ id, role, zone: "a", healthy: true });
  const DATA = ["cassandra@1.service", "ferretdb@1.service", "opensearch@1.service"];

  it("run on data nodes only, one data service per node", () => {
    const r = placeUnits([node("i-w1", "worker"), node("i-d1", "data"), node("i-d2", "data")], catalog.units);
    const placed = DATA.filter((u) => r.placement[u]);
    expect(placed).toHaveLength(2);
    expect(placed.map((u) => r.placement[u]![0]).sort()).toEqual(["i-d1", "i-d2"]);
    // The third waits for a third data node, saying why.
    const waiting = DATA.filter((u) => !r.placement[u]);
    expect(
      r.unplaceable
        .filter((x) => waiting.includes(x.unit))
        .map((x) => x.reason)
        .join(),
    ).toMatch(/conflicting unit/);
    // Their presence sidecars follow them.
    for (const u of placed) expect(r.placement[`presence@${u}`]).toEqual(r.placement[u]);
  });

  it("are placed nowhere without a data node", () => {
    const r = placeUnits([node("i-w1", "worker"), node("i-w2", "worker")], catalog.units);
    for (const u of DATA) expect(r.placement[u]).toBeUndefined();
  });
});
