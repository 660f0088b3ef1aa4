/**
 * @module
 * Node flags that load modules before the program (`--import`, `--require`/`-r`, `--loader`,
 * `--experimental-loader`), found so that a machine running a bundle does without them: the bundle holds
 * every module the program needs, and a TypeScript loader such as tsx is most of what it costs a
 * machine to start from source. Flags come as `--flag=value` or as `--flag value`; both are recognized.
 */

/** Flags that load a module; each takes a value. */
const MODULE_LOADERS = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"]);

/** The flag's name: before any `=`, with underscores as dashes (as node reads it). */
function flagName(arg: string): string {
  const eq = arg.indexOf("=");
  return (eq < 0 ? arg : arg.slice(0, eq)).replaceAll("_", "-");
}

/** `execArgv` without module-loading flags and their values; every other flag kept in order. */
export function withoutModuleLoaders(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i];
    if (!MODULE_LOADERS.has(flagName(arg))) {
      kept.push(arg);
      continue;
    }
    // `--import x` takes the next argument as its value; `--import=x` does not.
    if (!arg.includes("=")) i++;
  }
  return kept;
}
