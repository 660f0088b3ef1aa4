import { describe, expect, it } from "vitest";
import { withoutModuleLoaders } from "./node-flags.ts";

describe("withoutModuleLoaders", () => {
  it("drops module-loading flags with their values, in both spellings, and keeps every other flag in order", () => {
    const execArgv = [
      "--max-old-space-size=512",
      "--import",
      "tsx",
      "--require=/app/preflight.cjs",
      "-r",
      "./otel.cjs",
      "--experimental-loader",
      "ts-node/esm",
      "--loader=x.mjs",
      "--experimental_loader=y.mjs",
      "--enable-source-maps",
      "--import=file:///app/loader.mjs",
      "--expose-gc",
    ];
    expect(withoutModuleLoaders(execArgv)).toEqual(["--max-old-space-size=512", "--enable-source-maps", "--expose-gc"]);
  });

  it("leaves lists without loaders alone", () => {
    expect(withoutModuleLoaders([])).toEqual([]);
    expect(withoutModuleLoaders(["--no-warnings", "--stack-size=2000"])).toEqual(["--no-warnings", "--stack-size=2000"]);
  });
});
