#!/usr/bin/env node
// The `devcluster` executable (package.json "bin"): runs the prebuilt command line (bin/cliBundle.mjs),
// rebuilt first if a source changed since it was built; without esbuild, the TypeScript through tsx's
// loader in this process. Either way `npx devcluster ...` prints only what the command prints.
import { buildBundle, currentBundle, holdBundle } from "./cliBundle.mjs";

/* global process */
// grpc-js (etcd3's transport) passes a member's IP address as the TLS server name, which Node flags
// once per process (DEP0123: SNI takes no addresses, and Node already leaves it out). Every other
// warning is printed as Node prints it.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name === "DeprecationWarning" && w.code === "DEP0123") return;
  process.stderr.write(`(node:${process.pid}) ${w.name}: ${w.message}\n`);
});

let entry = currentBundle();
if (!entry) {
  try {
    entry = await buildBundle();
  } catch (e) {
    // No esbuild (an install without dev dependencies) runs from source; a source that does not
    // compile fails the same way under tsx, with its error.
    if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
  }
}
if (entry) {
  holdBundle(entry);
  await import(entry);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("./devcluster.ts");
}
