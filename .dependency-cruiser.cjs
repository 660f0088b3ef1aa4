/**
 * The layering rules `npm run lint` checks (dependency-cruiser), as docs/impl.md describes them:
 * dependencies point inward. Paths are relative to the folder the check runs in (the repository's
 * root; test/lint/fixtures/* for the tests of the rules themselves).
 *
 * Tests are held to the same rules as the code they test, except that a system's tests may use the
 * other systems and test/ (a conformance suite runs every system): the rules below name `from` paths
 * that exclude them where that is the case.
 */
const TESTS = "(\\.test\\.ts|\\.case\\.ts)$";

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "systems-are-independent",
      comment:
        "A system never imports another system: each is built from bigmachine's exported API (src/core.ts) and its own modules. " +
        "Only the composition root (src/start.ts) knows every system.",
      severity: "error",
      from: { path: "^src/systems/([^/]+)/", pathNot: TESTS },
      to: { path: "^src/systems/", pathNot: "^src/systems/$1/" },
    },
    {
      name: "emulators-stand-alone",
      comment:
        "The emulators copy Google's contracts, not bigmachine's: nothing under src/emulators imports the product " +
        "(the rest of src/, worker/, deploy/).",
      severity: "error",
      from: { path: "^src/emulators/" },
      to: { path: "^(src/|worker/|deploy/)", pathNot: "^src/emulators/" },
    },
    {
      name: "rpc-is-a-layer",
      comment: "The RPC layer depends on nothing of bigmachine above it: only on its own modules and src/errors.ts.",
      severity: "error",
      from: { path: "^src/rpc/", pathNot: TESTS },
      to: { path: "^(src/|worker/|deploy/)", pathNot: "^src/(rpc/|errors\\.ts$)" },
    },
    {
      name: "core-knows-no-system",
      comment:
        "The core (src/*.ts) reaches systems only through the System interface; the composition root (start.ts), " +
        "the public entry points (index.ts, cloudrun.ts) and the command line (cli.ts) are the exceptions.",
      severity: "error",
      from: { path: "^src/[^/]+\\.ts$", pathNot: ["^src/(start|index|cloudrun|cli)\\.ts$", TESTS] },
      to: { path: "^src/systems/" },
    },
    {
      name: "systems-use-the-exported-core",
      comment:
        "Systems use the core through src/core.ts (what a System author outside this package gets as bigmachine/system) " +
        "and the helpers in src/util/ and src/ship/, never the core's modules directly.",
      severity: "error",
      from: { path: "^src/systems/", pathNot: [TESTS, "/fixtures/"] },
      to: { path: "^src/[^/]+\\.ts$", pathNot: "^src/core\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
  },
};
