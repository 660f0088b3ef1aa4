/**
 * @module
 * Node options that open a debugger (`--inspect*`, `--debug*`), found so that processes bigmachine
 * starts never inherit them: an inspector port lets any local user run code in the process, with no
 * session secret asked. Node spells options with dashes or underscores and gives values after `=` or,
 * for some, as the next argument; all of those are recognized. Used for the argument lists of machine
 * processes and for the NODE_OPTIONS they inherit.
 */

/** Debugger options whose value may come as the next argument rather than after `=`. */
const TAKES_NEXT_VALUE = new Set(["--inspect-port", "--debug-port", "--inspect-publish-uid"]);

/** The option's name as node reads it: before any `=`, with underscores as dashes. */
function optionName(arg: string): string {
  const eq = arg.indexOf("=");
  return (eq < 0 ? arg : arg.slice(0, eq)).replaceAll("_", "-");
}

/** Whether `arg` is a node option that opens or configures a debugger. */
export function isDebuggerFlag(arg: string): boolean {
  return /^--(inspect|debug)(-|$)/.test(optionName(arg));
}

/** The positions in `args` of debugger options and of the separate values they take. */
function debuggerPositions(args: readonly string[]): Set<number> {
  const drop = new Set<number>();
  for (let i = 0; i < args.length; i++) {
    if (!isDebuggerFlag(args[i])) continue;
    drop.add(i);
    if (!args[i].includes("=") && TAKES_NEXT_VALUE.has(optionName(args[i])) && i + 1 < args.length) drop.add(++i);
  }
  return drop;
}

/** `args` (node options, e.g. `process.execArgv`) without debugger options. */
export function withoutDebuggerFlags(args: readonly string[]): string[] {
  const drop = debuggerPositions(args);
  return args.filter((_, i) => !drop.has(i));
}

/**
 * NODE_OPTIONS without debugger options, every other option kept as written (quotes included);
 * undefined when nothing is left.
 */
export function nodeOptionsWithoutDebugger(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const tokens = splitNodeOptions(value);
  const drop = debuggerPositions(tokens.map((t) => t.text));
  const kept = tokens.filter((_, i) => !drop.has(i)).map((t) => t.raw);
  return kept.length > 0 ? kept.join(" ") : undefined;
}

/**
 * Splits NODE_OPTIONS as node does: on whitespace, with double quotes grouping and, inside them, a
 * backslash escaping the next character. Each token keeps its text as written (`raw`) and as node
 * reads it (`text`).
 */
function splitNodeOptions(value: string): { raw: string; text: string }[] {
  const tokens: { raw: string; text: string }[] = [];
  let raw = "";
  let text = "";
  let quoted = false;
  const flush = () => {
    if (raw !== "") tokens.push({ raw, text });
    raw = "";
    text = "";
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (!quoted && /\s/.test(c)) {
      flush();
      continue;
    }
    raw += c;
    if (c === '"') {
      quoted = !quoted;
    } else if (quoted && c === "\\" && i + 1 < value.length) {
      raw += value[++i];
      text += value[i];
    } else {
      text += c;
    }
  }
  flush();
  return tokens;
}
