import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    // Integration files each start their own moto/etcd on a private loopback block. One file at a
    // time: two local clusters with real containers at once on 2 cores (one podman storage lock)
    // left a container unhealthy in some runs.
    // DEP0123: grpc-js names an etcd member's IP address as the TLS server name (local/nodeWarnings.ts).
    poolOptions: { forks: { maxForks: 1, minForks: 1, execArgv: ["--disable-warning=DEP0123"] } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { DEVCLUSTER_LOG: "silent", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
