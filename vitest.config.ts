import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration files each start their own moto/etcd on a private loopback block; two at a time
    // keeps a 2-core machine responsive.
    pool: "forks",
    // One file at a time: the local-cluster files run real containers, and two clusters starting
    // at once on 2 cores (one podman storage lock) made their containers miss their start limits.
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { DEVCLUSTER_LOG: "silent", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
