/**
 * Preloaded (`node --require`) into a local machine that runs a bundle of its program: stack traces
 * name the program's own files and lines instead of the bundle's. The bundle ends with an inline source
 * map (see `src/ship/bundle.ts`); this reads it only when a stack trace is first formatted, whereas
 * `node --enable-source-maps` decodes it and splits the whole bundle into lines while the process
 * starts, which costs a bundled machine about a sixth of its start-up CPU.
 *
 * Frames in the bundle are rewritten to `FILE:LINE:COLUMN` of the original source (as node prints
 * them with source maps); other frames, and everything when the map cannot be read, are left as node
 * would print them. A program (or an earlier preload) that sets `Error.prepareStackTrace` itself keeps
 * its own. Plain JavaScript
 * (CommonJS), because node loads it before any loader could transform it.
 */
"use strict";

// Everything but this file's own code is loaded when the first stack trace is formatted, not at start.
const MAP_COMMENT = "//# sourceMappingURL=data:application/json;base64,";

const bundlePath = process.argv[1];

/** How V8 names the bundle in frames: its path, its file URL, and that of its real path. */
let bundleNames;

function isBundle(file) {
  if (!bundleNames) {
    const { realpathSync } = require("node:fs");
    const { pathToFileURL } = require("node:url");
    bundleNames = new Set([bundlePath, pathToFileURL(bundlePath).href]);
    try {
      bundleNames.add(pathToFileURL(realpathSync(bundlePath)).href);
    } catch {
      // Named as given, then.
    }
  }
  return bundleNames.has(file);
}

/** The bundle's source map and the root its sources are relative to; null once it proved unreadable. */
let loaded;

function sourceMap() {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    const { readFileSync } = require("node:fs");
    const { SourceMap } = require("node:module");
    const text = readFileSync(bundlePath, "utf8");
    const at = text.lastIndexOf(MAP_COMMENT);
    if (at < 0) return loaded;
    const payload = JSON.parse(Buffer.from(text.slice(at + MAP_COMMENT.length).trim(), "base64").toString("utf8"));
    loaded = { map: new SourceMap(payload), root: typeof payload.sourceRoot === "string" ? payload.sourceRoot : "" };
  } catch {
    // No mapping: frames stay as they are.
  }
  return loaded;
}

/** Where `source` (relative to the map's root) is, as node prints it: a path for files. */
function originalFile(root, source) {
  const { fileURLToPath, pathToFileURL } = require("node:url");
  let url;
  try {
    url = new URL(source, root || pathToFileURL(bundlePath).href).href;
  } catch {
    return source;
  }
  return url.startsWith("file:") ? fileURLToPath(url) : url;
}

function frame(callSite) {
  const text = String(callSite);
  const file = callSite.getFileName();
  if (!isBundle(file)) return text;
  const line = callSite.getLineNumber();
  const column = callSite.getColumnNumber();
  const mapped = line && column ? sourceMap() : null;
  if (!mapped) return text;
  const entry = mapped.map.findEntry(line - 1, column - 1);
  if (!entry || !entry.originalSource) return text;
  const at = `${originalFile(mapped.root, entry.originalSource)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  return text.replace(`${file}:${line}:${column}`, at);
}

function header(error) {
  try {
    return Error.prototype.toString.call(error);
  } catch {
    return "Error";
  }
}

/** Whether stack traces are still formatted as node does by default (node 20 names its own formatter). */
function nodeDefault(prepare) {
  return prepare === undefined || prepare.name === "ErrorPrepareStackTrace";
}

if (bundlePath && nodeDefault(Error.prepareStackTrace)) {
  Error.prepareStackTrace = (error, callSites) => {
    let frames;
    try {
      frames = callSites.map(frame);
    } catch {
      frames = callSites.map(String);
    }
    return header(error) + frames.map((f) => `\n    at ${f}`).join("");
  };
}
