// `restart` (by hand: the dashboard service's Restart button): restart one placed unit where the
// placement puts it, with the fixed restart script. Its only input is the unit's name (and
// optionally one of its nodes), so the nodes' role may invoke it without being able to run anything
// else on a node.
import { restartUnit, type RestartResult } from "../operations/restartUnit.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { restartDeps, wiring, type Wiring } from "../runtime/restartWiring.ts";

export const restartHandler = (w: () => Wiring) =>
  lambdaHandler<RestartResult>("restart", (event, log) => restartUnit(restartDeps(w()), event, log));

/** The Lambda entry point. */
export const handler = restartHandler(wiring);
