// Unit tests only (pure domain code: no etcd, moto or containers): what `npm run test:unit` and
// mutation testing run.
import { defineConfig } from "vitest/config";
import base from "./vitest.config.ts";

export default defineConfig({ ...base, test: { ...base.test, include: ["test/unit/**/*.test.ts"] } });
