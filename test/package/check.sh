#!/usr/bin/env bash
# The package as a user gets it: builds and packs this repository, installs the tarball into an empty
# folder outside it (so nothing resolves from the repository's node_modules; dependencies come from
# npm's cache when it has them), runs a plain-JavaScript driver that starts two local machines under
# plain node and calls them, runs one on the Cloud Run System against the emulators, type-checks a
# TypeScript consumer against the installed declarations, and runs the installed command. Nothing
# reaches Google: the suite's guard is preloaded. Exits non-zero, saying which step failed, if any does.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/bigmachine-package-XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\npackage check: %s\n' "$*"; }

step "build and pack"
cd "$repo"
npm pack --loglevel=warn --pack-destination "$work" >/dev/null
tarball="$(ls "$work"/bigmachine-*.tgz)"
contents="$(tar -tzf "$tarball")"
grep -qx 'package/dist/src/index.d.ts' <<<"$contents" || { echo "the tarball has no dist/src/index.d.ts"; exit 1; }
if grep -q '^package/src/' <<<"$contents"; then echo "the tarball ships TypeScript sources"; exit 1; fi
typescript="typescript@$(node -p 'require("./package.json").devDependencies.typescript')"
node_types="@types/node@$(node -p 'require("./package.json").devDependencies["@types/node"]')"

step "install $(basename "$tarball") into an empty folder"
consumer="$work/consumer"
mkdir "$consumer"
cp test/package/consumer/driver.mjs test/package/consumer/cloudrun.mjs test/package/consumer/consumer.ts test/package/consumer/tsconfig.json "$consumer/"
# The suite's guard against reaching Google, preloaded into the drivers and everything they start.
cp test/setup/google-guard.mjs "$work/google-guard.mjs"
printf '{ "name": "bigmachine-consumer", "private": true, "type": "module" }\n' >"$consumer/package.json"
cd "$consumer"
# Nothing of the repository's environment: no loader, no module path.
unset NODE_OPTIONS NODE_PATH
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tarball" "$typescript" "$node_types"
export NODE_OPTIONS="--import=$work/google-guard.mjs"

step "a plain-JavaScript driver starts 2 local machines and calls them"
output="$(BIGMACHINE_CACHE_DIR="$work/cache" node driver.mjs)"
echo "$output"
grep -q "bigmachine from $consumer/node_modules/bigmachine/" <<<"$output" || { echo "the driver did not load the installed package"; exit 1; }
# The machines ran the driver's bundle, which leaves bigmachine's driver-only modules (the Cloud Run
# driver side with the Google clients, the emulators) out, as it does from a checkout.
bundles=("$work"/cache/programs/*.mjs)
[ -f "${bundles[0]}" ] || { echo "the machines ran no bundle of the driver"; exit 1; }
for bundle in "${bundles[@]}"; do
  size=$(wc -c <"$bundle")
  echo "bundle of the driver: $size bytes"
  if grep -q "google.cloud.run.v2.Services" "$bundle" || [ "$size" -gt $((4 * 1024 * 1024)) ]; then
    echo "the bundle holds bigmachine's driver-only modules"
    exit 1
  fi
done

step "a plain-JavaScript driver runs a machine on the Cloud Run System against the emulators"
node cloudrun.mjs

step "a TypeScript consumer type-checks against the installed declarations"
./node_modules/.bin/tsc -p tsconfig.json

step "the installed command runs"
help="$(./node_modules/.bin/bigmachine --help 2>&1)"
grep -q '^usage: bigmachine' <<<"$help" || { echo "$help"; exit 1; }

step "passed"
