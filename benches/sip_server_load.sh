#!/usr/bin/env bash
# Signalling load on `switchyard run` (release build) driven by SIPp over UDP loopback:
# digest-authenticated REGISTERs, then OPTIONS, each at a fixed rate. Prints the daemon's
# CPU time per transaction (utime+stime from /proc) and SIPp's failed-call count.
#
#   benches/sip_server_load.sh [RATE] [SECONDS]      (defaults: 1000 calls/s for 10 s)
#
# Needs sipp (Debian sip-tester). Uses 127.0.0.1:25990 for the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
secs=${2:-10}
calls=$((rate * secs))
port=25990
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT

# SWITCHYARD_BIN runs another build (e.g. to compare two versions in one sitting).
bin=${SWITCHYARD_BIN:-./target/release/switchyard}
[ -n "${SWITCHYARD_BIN:-}" ] || cargo build --release -p switchyard --quiet
SWITCHYARD_DEMO_PASSWORD=loadtest RUST_LOG=warn "$bin" run \
  --sip-listen 127.0.0.1:$port --data-dir "$work/data" --qualify-interval 0 \
  >"$work/out" 2>"$work/err" &
pid=$!
until grep -q '^ready$' "$work/out" 2>/dev/null; do sleep 0.1; done
sed 's/PASSWORD/loadtest/' benches/sipp/register_auth.xml >"$work/register.xml"

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tick=$(getconf CLK_TCK)

run() { # name scenario transactions-per-call
  local before after failed
  before=$(cpu)
  sipp -sf "$2" -m "$calls" -r "$rate" -l $((rate * 2)) -i 127.0.0.1 -t u1 -nostdin \
    -timeout $((secs * 4))s -trace_stat -stf "$work/$1.csv" 127.0.0.1:$port >/dev/null 2>&1 || true
  after=$(cpu)
  failed=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="FailedCall(C)") c=i} END{print $c}' "$work/$1.csv")
  awk -v n="$1" -v c="$calls" -v t="$3" -v d=$((after - before)) -v k="$tick" -v f="$failed" \
    'BEGIN{printf "%-9s %6d calls, %d failed, daemon CPU %.1f us per transaction\n", n, c, f, d / k * 1e6 / (c * t)}'
}
run register "$work/register.xml" 2
run options benches/sipp/options.xml 1
