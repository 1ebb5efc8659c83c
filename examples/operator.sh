#!/usr/bin/env bash
# The session an operator types against a running Oris server (see docs/cli.md):
# start an approval job, find its pending interrupt, inspect it, approve it,
# read its timeline, verify it by replay and look at the audit log.
#
#   ORIS_SERVER_URL=http://127.0.0.1:8080 ORIS_API_TOKEN=... bash examples/operator.sh
#
# `oris` is the installed CLI if there is one, else this checkout's cli/main.ts.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
oris() {
  if [ -n "${ORIS_BIN:-}" ]; then "$ORIS_BIN" "$@"; else deno run -A "$root/cli/main.ts" "$@"; fi
}
thread="${1:-op-$(date +%s)}"

oris run "$thread" --graph approval --input '{"request":"deploy v2"}' --wait
oris interrupts --status pending --run "$thread"
oris inspect "$thread"
oris resume "$thread" --value true
oris timeline "$thread"
oris replay "$thread"
oris audit --action job.resume --since 1h
oris list --status completed --limit 5
