#!/usr/bin/env node
// The `devcluster` executable (package.json "bin"): runs the prebuilt command line (bin/cliBundle.mjs),
// rebuilt first if a source changed since it was built; without esbuild, the TypeScript through tsx's
// loader in this process. Either way `npx devcluster ...` prints only what the command prints.
import { buildBundle, currentBundle, holdBundle } from "./cliBundle.mjs";

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
