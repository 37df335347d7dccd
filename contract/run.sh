#!/usr/bin/env bash
# Contract checks for openapi.yaml against a groupsd binary (issue 5, and the
# /docs browser test of issue 7). Usage: contract/run.sh path/to/groupsd
#
# Stages, in order: npm ci when needed; lint (Spectral, Redocly, and a
# self-test of the Spectral rules); Prism (live response validation of the
# real server, and a self-test proving a broken server fails); TypeScript SDK
# (openapi-typescript, tsc --noEmit, node --test); browser (/docs in headless
# Chromium). Everything after npm ci runs offline and only on 127.0.0.1.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 path/to/groupsd" >&2
  exit 2
fi
bin=$(realpath "$1")
if [[ ! -x $bin ]]; then
  echo "contract: $1 is not an executable groupsd binary (make build first)" >&2
  exit 2
fi
export GROUPSD_BIN=$bin

cd "$(dirname "${BASH_SOURCE[0]}")"

# No tool may phone home: these runs are offline once npm ci is done.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1 \
  npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false SCARF_ANALYTICS=false
PATH=$PWD/node_modules/.bin:$PATH

started=$SECONDS
stage_start=$SECONDS
current=
# stage NAME: ends the current stage (printing its time) and starts NAME.
stage() {
  if [[ -n $current ]]; then echo "<== contract: $current: $((SECONDS - stage_start)) s"; fi
  current=$*
  stage_start=$SECONDS
  if [[ -n $current ]]; then echo; echo "==> contract: $current"; fi
}
trap 'echo; echo "contract: FAILED in stage: ${current:-setup}" >&2' ERR

# node_modules/.package-lock.json is what npm last installed; reinstall when
# the committed lockfile is newer or the tree is missing.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  stage "npm ci"
  npm ci --no-audit --no-fund
fi

# node --test flags: spec output, and a ceiling on any one test so a hang
# cannot stall the build.
node_test=(node --test --test-reporter=spec --test-timeout=120000)

stage "lint: spectral (spectral:oas + project rules, warnings fail)"
spectral lint --fail-severity=warn --ruleset .spectral.yaml ../openapi.yaml
stage "lint: redocly (recommended-strict)"
# Redocly's Node 20 end-of-life banner (a box) is dropped from its output.
status=0
out=$(redocly lint --config redocly.yaml ../openapi.yaml 2>&1) || status=$?
grep -v '[║╔╚]' <<<"$out" || true
if [[ $status -ne 0 ]]; then false; fi
stage "lint: the project's Spectral rules catch a broken spec"
"${node_test[@]}" lint-selftest.test.mjs

stage "prism: live responses of $bin validated against openapi.yaml; a broken server must fail"
"${node_test[@]}" prism-selftest.test.mjs prism-scenario.test.mjs

stage "sdk: openapi-typescript, tsc --noEmit, node --test"
rm -rf .sdk-build
openapi-typescript ../openapi.yaml -o sdk/schema.gen.ts
tsc --noEmit -p .
tsc -p .
"${node_test[@]}" .sdk-build/groups.test.js

stage "browser: /docs in headless Chromium"
"${node_test[@]}" docs-browser.test.mjs

stage
echo
echo "contract: all stages passed in $((SECONDS - started)) s"
