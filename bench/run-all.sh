#!/usr/bin/env bash
# Every load-bench scenario at the sizes docs/benchmarks.md reports, one after the other, with the load average
# printed before each. Usage: bench/run-all.sh [log file]   (build first: dotnet build AgentSentinel.sln -c Release)
set -uo pipefail
cd "$(dirname "$0")/.."
log="${1:-bench-results.log}"
bench=bench/AgentSentinel.LoadBench/bin/Release/net10.0/AgentSentinel.LoadBench.dll
run() {
  echo "=== dotnet $bench $*" | tee -a "$log"
  uptime | tee -a "$log"
  dotnet "$bench" "$@" 2>&1 | grep -v '^\s*at \|\[server\]' | tee -a "$log"
}
run intake 2000 1,16,64
run poll 64 15
run wait 1000
run expiry 10000 60
run fanout 500 5
run memory 10000 1000
run twin 200 500
run kill9 20 16
run scale 1000000
