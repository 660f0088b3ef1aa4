/**
 * @module
 * Whether the driver's entry script is a program of its own or another tool's. Without a program
 * named, machines run the driver's own program: its entry script, `process.argv[1]` (re-run locally,
 * or bundled and shipped to Cloud Run). Under a test runner or another command-line tool that script
 * is the tool's (vitest's worker, mocha's command, ...), and each machine would run the tool instead of
 * the driver's code: it would never call `start()`, and the start would only fail at a timeout, or
 * worse. Systems tell such a driver at once to name its program.
 *
 * A script belongs to a tool when it lies inside `node_modules` in a package that does not depend on
 * bigmachine. A script of the user's own (outside `node_modules`), or of an installed program built
 * on bigmachine (its package lists bigmachine among its dependencies), is the driver's program.
 */
import { readFileSync, realpathSync } from "node:fs";
import path from "node:path";

/** The package that owns a script: its name and whether it depends on bigmachine. */
interface Owner {
  name: string;
  dependsOnBigmachine: boolean;
}

const DEPENDENCY_FIELDS = ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"] as const;

function readOwner(file: string): Owner | undefined {
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  // Nested manifests without a name (`{"type": "module"}` in a dist folder) do not name the package.
  if (typeof manifest.name !== "string") return undefined;
  const dependsOnBigmachine = DEPENDENCY_FIELDS.some((field) => {
    const deps = manifest[field];
    return typeof deps === "object" && deps !== null && "bigmachine" in deps;
  });
  return { name: manifest.name, dependsOnBigmachine };
}

/**
 * The name of the tool whose script `entry` is, or undefined when `entry` is a program of the user's
 * (see the module doc). bigmachine's own command counts as a tool: it is no driver's program.
 */
export function foreignEntryOwner(entry: string): string | undefined {
  let file: string;
  try {
    file = realpathSync(entry);
  } catch {
    file = path.resolve(entry);
  }
  const parts = file.split(path.sep);
  const inside = parts.lastIndexOf("node_modules");
  if (inside < 0) return undefined;
  // The package folder is node_modules/NAME or node_modules/@SCOPE/NAME; look no higher than it.
  const packageDepth = parts[inside + 1]?.startsWith("@") ? inside + 3 : inside + 2;
  for (let depth = parts.length - 1; depth >= packageDepth; depth--) {
    const owner = readOwner(path.join(parts.slice(0, depth).join(path.sep) || path.sep, "package.json"));
    if (owner) return owner.dependsOnBigmachine && owner.name !== "bigmachine" ? undefined : owner.name;
  }
  return parts.slice(inside + 1, packageDepth).join("/") || "a package";
}
