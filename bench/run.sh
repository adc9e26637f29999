#!/usr/bin/env bash
# Builds Switchyard (release), starts it with bench/proxy-bench.toml in front of the servers that
# ../shared/bench/compare.sh manages, and runs compare.sh with direct, PgBouncer and Switchyard as PostgreSQL
# targets and direct and Switchyard as MySQL targets (pick scenarios with -s).
# Usage: bench/run.sh [compare.sh options, e.g. -T 10 -r 3 -s pg_sel_simple_c32]
set -euo pipefail
cd "$(dirname "$0")/.."
COMPARE=${COMPARE:-../shared/bench/compare.sh}
cargo build --release --quiet
# Start the servers (and nothing else) first: a 1-second run of one cheap scenario against each direct target.
bash "$COMPARE" -T 1 -r 1 -s pg_sel_simple_c1,my_ps_t1 pg:127.0.0.1:45432 my:127.0.0.1:43306 >/dev/null
target/release/switchyard serve --config bench/proxy-bench.toml > /tmp/switchyard-bench.log 2>&1 &
SY=$!
trap 'kill $SY 2>/dev/null; wait $SY 2>/dev/null' EXIT
for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 6432 -d bench && break; sleep 0.1; done
bash "$COMPARE" "$@" pg:127.0.0.1:45432 pg:127.0.0.1:46432 pg:127.0.0.1:6432 my:127.0.0.1:43306 my:127.0.0.1:6033
