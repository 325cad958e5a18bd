// Argument parsing for the command line, with errors in its own terms: an unknown option or command
// names the nearest known one ("did you mean --json?") instead of Node's parseArgs wording.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { InvalidInputError } from "../functions/domain/errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Edit distance (insert, delete, substitute, swap of neighbours): small inputs only. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known word nearest to `word`, if it is close enough to be a typo (or `word` is a prefix of it). */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: { w: string; d: number } | undefined;
  for (const k of known) {
    const d = k.startsWith(word) && word.length >= 2 ? 0.5 : distance(word, k);
    if (!best || d < best.d) best = { w: k, d };
  }
  return best && best.d <= Math.max(1, Math.floor(best.w.length / 3)) ? best.w : undefined;
}

export const didYouMean = (word: string, known: readonly string[]) => {
  const n = nearest(word, known);
  return n ? ` (did you mean ${n}?)` : "";
};

/** parseArgs for `command`, with unknown options and stray arguments reported in the CLI's terms. */
export function parse<O extends Options>(
  command: string,
  args: string[],
  options: O,
  maxPositionals: number,
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const msg = e instanceof Error ? e.message : String(e);
    const unknown = /Unknown option '([^']+)'/.exec(msg)?.[1];
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
      const known = Object.keys(options).map((o) => `--${o}`);
      throw new InvalidInputError(
        `${command}: unknown option ${unknown}${didYouMean(unknown, known)}; 'npx devcluster ${command} --help' lists the options`,
      );
    }
    const opt = /Option '(?:-\w, )?(--[\w-]+)/.exec(msg)?.[1];
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && opt) {
      const takesValue = options[opt.slice(2)]?.type === "string";
      throw new InvalidInputError(
        takesValue ? `${command}: ${opt} needs a value` : `${command}: ${opt} takes no value`,
      );
    }
    throw new InvalidInputError(`${command}: ${msg}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals.slice(maxPositionals);
    throw new InvalidInputError(
      `${command}: unexpected argument${extra.length > 1 ? "s" : ""} ${extra.map((x) => `'${x}'`).join(" ")}; 'npx devcluster ${command} --help' shows the usage`,
    );
  }
  return parsed;
}
