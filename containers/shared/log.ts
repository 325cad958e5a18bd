// JSON log lines for the node programs: the control plane's logger, tagged with the program's name.
import { createLogger, type Logger } from "../../functions/runtime/log.ts";

export type { Logger };

export const programLogger = (program: string): Logger => createLogger({ program });
