// bigmachine: driver-only
/**
 * @module
 * Bundles of a driver's program for its local machines, kept across runs. Bundling a program costs
 * hundreds of milliseconds of CPU (measured in docs/performance.md), checking that an earlier bundle
 * still stands a few: so each bundle is recorded with its witness (`bundle-witness.ts`: the content of
 * every file it was made from, and the folders and config files that steer resolution) and reused while
 * the witness holds. The bundles are the mapped form of `bundleProgram` (with an inline source map
 * naming this host's files), kept in a {@link ProgramStore}, which re-hashes a program before handing it
 * out; a manifest per entry names its bundle and witness.
 *
 * The cache is keyed by the entry, by the bundler's version and by the source of bigmachine's bundling
 * code, so an upgrade of either never reuses an old bundle. Its folder must be private to this user,
 * like a program store's: whoever can write there chooses the code machines run. Where there is no such
 * folder to use, {@link openBundleCache} falls back to a folder of this process's own, removed at exit.
 *
 * Driver-only: the local system imports it with `await import()`, so machines never load it.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { errorOf } from "../errors.ts";
import { bundleProgram } from "./bundle.ts";
import { lastChangeMs, witnessHolds, witnessOf, type Witness } from "./bundle-witness.ts";
import { digestHex, isProgramDigest } from "./digest.ts";
import { checkPrivateFolder, ProgramStore } from "./program-store.ts";

/** Bumped when the manifest's shape or meaning changes. */
const MANIFEST_VERSION = 1;

/** Bundles kept at once; each is about a megabyte. */
const MAX_BUNDLES = 16;

/** Changes this recent (ms) before a build may not be in it: such a bundle is used but not recorded. */
const RACY_MS = 2_000;

/** bigmachine's bundling code, whose every change must invalidate the cache. */
const BUNDLER_SOURCES = ["bundle.ts", "bundle-error.ts", "bundle-witness.ts", "bundle-cache.ts", "digest.ts", "driver-only.ts", "esm-interop.ts"];

/** A bundle of a program, as a file to run. */
export interface CachedBundle {
  /** The bundle's file: an ES module, run it with `node --enable-source-maps`. */
  file: string;
  /** `sha256:<hex>` of the file. */
  digest: string;
  /** The absolute path of the entry module bundled. */
  entry: string;
  /** What the bundler warned about when it made the bundle. */
  warnings: string[];
  /** Whether an earlier run's bundle was reused. */
  reused: boolean;
}

interface Manifest {
  version: number;
  key: string;
  entry: string;
  digest: string;
  warnings: string[];
  witness: Witness;
}

/**
 * The default folder: `$XDG_CACHE_HOME/bigmachine` (else `~/.cache/bigmachine`) on Linux and other
 * Unix systems, `~/Library/Caches/bigmachine` on macOS, `%LOCALAPPDATA%\bigmachine\cache` on Windows.
 */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  if (platform === "darwin") return path.join(home, "Library", "Caches", "bigmachine");
  if (platform === "win32") return path.join(env.LOCALAPPDATA || path.join(home, "AppData", "Local"), "bigmachine", "cache");
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(home, ".cache"), "bigmachine");
}

/** The witness of a bundle, or undefined when it cannot be made (then the bundle is not recorded). */
function witnessOrUndefined(inputs: string[], root: string): Witness | undefined {
  try {
    return witnessOf(inputs, root);
  } catch {
    return undefined;
  }
}

let bundlerDigest: string | undefined;

/** The digest of the esbuild version and of bigmachine's bundling code, read from its source files. */
async function bundlerIdentity(): Promise<string> {
  if (bundlerDigest) return bundlerDigest;
  const hash = createHash("sha256");
  hash.update(`esbuild ${(await import("esbuild")).version}\n`);
  for (const name of BUNDLER_SOURCES) hash.update(readFileSync(new URL(`./${name}`, import.meta.url))).update("\n");
  return (bundlerDigest = hash.digest("hex"));
}

/** Bundles kept in a private folder, with a manifest per entry; see the module doc. */
export class BundleCache {
  /** The cache's folder. */
  readonly dir: string;
  /** Whether manifests are written to the folder for later runs (false: kept in this process only). */
  readonly persistent: boolean;
  readonly #store: ProgramStore;
  readonly #manifests: string;
  /** Manifests of a cache that is not persistent. */
  readonly #inMemory = new Map<string, Manifest>();

  /**
   * Opens (creating it, mode 0700) the cache in `dir`. Throws kind `precondition` for a folder owned by
   * another user or writable by others, and the file system's error when it cannot be created.
   */
  constructor(dir: string, options: { persistent?: boolean } = {}) {
    this.dir = path.resolve(dir);
    this.persistent = options.persistent ?? true;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    checkPrivateFolder(this.dir, "the bundle cache");
    this.#store = new ProgramStore(path.join(this.dir, "programs"), { maxPrograms: MAX_BUNDLES });
    this.#manifests = path.join(this.dir, "manifests");
    mkdirSync(this.#manifests, { recursive: true, mode: 0o700 });
    checkPrivateFolder(this.#manifests, "the bundle cache");
  }

  /**
   * The bundle of the program whose entry is `entry`: an earlier one while its witness holds, else a new
   * one (recorded unless its sources changed just before). Rejects as `bundleProgram` does when the
   * program cannot be bundled.
   */
  async bundle(entry: string): Promise<CachedBundle> {
    const resolved = path.resolve(entry);
    const key = await this.#key(resolved);
    const reused = key === undefined ? undefined : await this.#lookup(key, resolved);
    if (reused) return reused;
    const startedAt = Date.now();
    const bundle = await bundleProgram({ entry: resolved, sourceMap: true, cache: false });
    const file = await this.#store.put(bundle.code, bundle.digest);
    if (key !== undefined) {
      const witness = witnessOrUndefined(bundle.inputs, bundle.root);
      if (witness) await this.#record({ version: MANIFEST_VERSION, key, entry: bundle.entry, digest: bundle.digest, warnings: bundle.warnings, witness }, startedAt);
    }
    return { file, digest: bundle.digest, entry: bundle.entry, warnings: bundle.warnings, reused: false };
  }

  /** The manifest key of `entry`; undefined when bigmachine's bundling code cannot be read (nothing is then reused). */
  async #key(entry: string): Promise<string | undefined> {
    let identity: string;
    try {
      identity = await bundlerIdentity();
    } catch {
      return undefined;
    }
    return createHash("sha256").update(JSON.stringify({ version: MANIFEST_VERSION, identity, entry, form: "mapped" })).digest("hex");
  }

  #manifestFile(key: string): string {
    return path.join(this.#manifests, `${key}.json`);
  }

  async #readManifest(key: string): Promise<Manifest | undefined> {
    if (!this.persistent) return this.#inMemory.get(key);
    try {
      return JSON.parse(await readFile(this.#manifestFile(key), "utf8")) as Manifest;
    } catch {
      return undefined;
    }
  }

  async #lookup(key: string, entry: string): Promise<CachedBundle | undefined> {
    const manifest = await this.#readManifest(key);
    if (!manifest || manifest.version !== MANIFEST_VERSION || manifest.key !== key || manifest.entry !== entry || !isProgramDigest(manifest.digest)) return undefined;
    if (!witnessHolds(manifest.witness)) return undefined;
    try {
      const file = await this.#store.verifiedPath(manifest.digest);
      return { file, digest: manifest.digest, entry, warnings: manifest.warnings ?? [], reused: true };
    } catch {
      // Evicted, or changed on disk (and removed): make it again.
      return undefined;
    }
  }

  /** Records `manifest` (atomically, on disk) unless its sources changed too recently; drops manifests of evicted bundles. */
  async #record(manifest: Manifest, startedAt: number): Promise<void> {
    if (lastChangeMs(manifest.witness) >= startedAt - RACY_MS) return;
    if (!this.persistent) {
      this.#inMemory.set(manifest.key, manifest);
      return;
    }
    const file = this.#manifestFile(manifest.key);
    const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(manifest), { mode: 0o600, flag: "wx" });
      await rename(temp, file);
    } catch {
      // Best effort: the bundle is made again next time.
      await unlink(temp).catch(() => {});
    }
    this.#dropStaleManifests();
  }

  #dropStaleManifests(): void {
    const held = new Set(this.#store.digests().map(digestHex));
    for (const name of readdirSync(this.#manifests)) {
      if (!name.endsWith(".json")) continue;
      const file = path.join(this.#manifests, name);
      try {
        const digest = (JSON.parse(readFileSync(file, "utf8")) as Partial<Manifest>).digest;
        if (!isProgramDigest(digest) || !held.has(digestHex(digest))) rmSync(file, { force: true });
      } catch {
        rmSync(file, { force: true });
      }
    }
  }
}

/**
 * The cache in `dir` (default {@link defaultCacheDir}); when that folder cannot be used (not private,
 * not writable), a cache in a private temporary folder of this process, removed when it exits, so
 * bundles are still made once per process. `onFallback` hears why.
 */
export function openBundleCache(dir: string = defaultCacheDir(), onFallback?: (err: Error) => void): BundleCache {
  try {
    return new BundleCache(dir);
  } catch (err) {
    onFallback?.(err as Error);
    return processBundleCache();
  }
}

let processCache: BundleCache | undefined;

/** A cache in a temporary folder of this process's own, removed at exit; made once per process (again if its folder went). */
function processBundleCache(): BundleCache {
  if (processCache && existsSync(processCache.dir)) return processCache;
  const dir = mkdtempSync(path.join(os.tmpdir(), "bigmachine-bundles-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  try {
    return (processCache = new BundleCache(dir, { persistent: false }));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw errorOf("unavailable", `cannot keep the bundle of the program anywhere: ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
}
