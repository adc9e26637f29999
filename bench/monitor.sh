#!/usr/bin/env bash
# The monitor's cost under load: two Switchyard instances in front of the servers ../shared/bench/compare.sh
# manages, one with the monitor on (6432 / 6033) and one with it off (6442 / 6043, DB_MONITORING_ENABLED=false),
# run side by side in one interleaved compare.sh invocation with the direct servers as reference.
# Usage: bench/monitor.sh [compare.sh options]   (default: -T 10 -r 3 -s pg_sel_simple_c32,pg_sel_ext_c32,my_ps_t32)
set -euo pipefail
cd "$(dirname "$0")/.."
COMPARE=${COMPARE:-../shared/bench/compare.sh}
cargo build --release --quiet
bash "$COMPARE" -T 1 -r 1 -s pg_sel_simple_c1,my_ps_t1 pg:127.0.0.1:45432 my:127.0.0.1:43306 >/dev/null
DATA=$(mktemp -d)
SWITCHYARD_GENERAL__DATA_DIR="$DATA/on" target/release/switchyard serve --config bench/proxy-bench.toml \
  > /tmp/switchyard-bench-on.log 2>&1 &
ON=$!
DB_MONITORING_ENABLED=false SWITCHYARD_GENERAL__DATA_DIR="$DATA/off" \
  SWITCHYARD_LISTEN__POSTGRES=127.0.0.1:6442 SWITCHYARD_LISTEN__MYSQL=127.0.0.1:6043 \
  target/release/switchyard serve --config bench/proxy-bench.toml > /tmp/switchyard-bench-off.log 2>&1 &
OFF=$!
trap 'kill $ON $OFF 2>/dev/null; wait $ON $OFF 2>/dev/null; rm -rf "$DATA"' EXIT
for port in 6432 6442; do
  for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p "$port" -d bench && break; sleep 0.1; done
done
if [ $# -eq 0 ]; then set -- -T 10 -r 3 -s pg_sel_simple_c32,pg_sel_ext_c32,my_ps_t32; fi
bash "$COMPARE" "$@" pg:127.0.0.1:45432 pg:127.0.0.1:6432 pg:127.0.0.1:6442 \
  my:127.0.0.1:43306 my:127.0.0.1:6033 my:127.0.0.1:6043
