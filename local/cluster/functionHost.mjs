// Starts one function's worker thread: TypeScript is loaded with tsx in this thread (a worker does not
// inherit the loader of the process or test runner that started it), then the host module runs.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.host);
