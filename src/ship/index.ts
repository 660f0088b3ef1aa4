/**
 * @module
 * Shipping the driver's program (Go bigmachine's Setbinary/Exec): the driver bundles its own program
 * into one self-contained ES module file named by its digest; a worker keeps shipped programs in a
 * bounded, digest-checked store and runs one, with plain node, as the machine.
 */
export { bundleProgram, type BundleOptions, type ProgramBundle } from "./bundle.ts";
export { BAKE_INTO_IMAGE_HINT } from "./bundle-error.ts";
export { digestHex, isProgramDigest, programDigest, PROGRAM_DIGEST_PATTERN } from "./digest.ts";
export { DEFAULT_MAX_PROGRAMS, ProgramStore, type ProgramStoreOptions } from "./program-store.ts";
