/**
 * @module
 * The in-process test system.
 */
export { TestSystem, testSystemKeepaliveDefaults, type TestEvent, type TestSystemOptions } from "./test-system.ts";
