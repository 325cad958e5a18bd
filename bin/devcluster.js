#!/usr/bin/env node
// The `devcluster` executable (package.json "bin"): loads the TypeScript command line through tsx's
// loader in this process, so `npx devcluster ...` prints only what the command prints (no npm banner).
import { register } from "tsx/esm/api";

register();
await import("./devcluster.ts");
