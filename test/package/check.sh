#!/usr/bin/env bash
# The package as a user gets it: builds and packs this repository, installs the tarball into an empty
# folder outside it (so nothing resolves from the repository's node_modules; dependencies come from
# npm's cache when it has them), runs a plain-JavaScript driver that starts two local machines under
# plain node and calls them, type-checks a TypeScript consumer against the installed declarations,
# and runs the installed command. Exits non-zero, saying which step failed, if any does.
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
cp test/package/consumer/driver.mjs test/package/consumer/consumer.ts test/package/consumer/tsconfig.json "$consumer/"
printf '{ "name": "bigmachine-consumer", "private": true, "type": "module" }\n' >"$consumer/package.json"
cd "$consumer"
# Nothing of the repository's environment: no loader, no module path.
unset NODE_OPTIONS NODE_PATH
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tarball" "$typescript" "$node_types"

step "a plain-JavaScript driver starts 2 local machines and calls them"
output="$(node driver.mjs)"
echo "$output"
grep -q "bigmachine from $consumer/node_modules/bigmachine/" <<<"$output" || { echo "the driver did not load the installed package"; exit 1; }

step "a TypeScript consumer type-checks against the installed declarations"
./node_modules/.bin/tsc -p tsconfig.json

step "the installed command runs"
help="$(./node_modules/.bin/bigmachine --help 2>&1)"
grep -q '^usage: bigmachine' <<<"$help" || { echo "$help"; exit 1; }

step "passed"
