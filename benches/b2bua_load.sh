#!/usr/bin/env bash
# Calls through a B2BUA under load: Switchyard beside Kamailio 5.6 (a transaction-stateful
# proxy, the yardstick), both driven by SIPp over UDP loopback in the same run.
#
#   benches/b2bua_load.sh [options]
#
# Signalling (each system in turn, pinned to CPU 0; SIPp's uac and uas share CPU 1):
#   SIPp uac -> system -> SIPp uas, RATE calls/s, CALLS calls, each held HOLD ms. The
#   system's CPU time (utime+stime of its process tree, from /proc) before and after
#   gives CPU ms per call; SIPp's statistics and exit code give failed calls. Then a
#   search: the same calls at each rate of --search-rates for --search-secs seconds,
#   stopping at the first rate that fails a call or that SIPp cannot reach (its achieved
#   rate is printed beside the target; `--only sipp` measures SIPp calling itself).
#   The systems and SIPp run at niceness -20 in sessions of their own (see --nice), so
#   that builds running beside the bench disturb it less.
# Bridged calls with media (Switchyard only; a proxy does not relay media):
#   SIPp uac plays G.711 A-law from a pcap through Switchyard to a SIPp uas that echoes
#   every RTP packet; calls ramp up to --media-concurrent at once. Prints failed calls,
#   Switchyard's CPU while all calls are up, and memory per bridged call (resident set
#   at full load minus before the first call, divided by the calls).
#
# Options (defaults in brackets):
#   --calls N              calls in the fixed-rate run [30000]
#   --rate N               calls/s of the fixed-rate run [1000]
#   --hold MS              how long each signalling call lasts [1000]
#   --search-rates "A B"   rates tried in the search ["1000 1500 ... 6000 8000"]
#   --search-secs N        seconds of calls at each searched rate [10]
#   --tries N              tries at a searched rate before it counts as failed [2]: a
#                          shared machine's other work sometimes stalls SIPp for a moment
#   --no-search            skip the search
#   --media-concurrent N   bridged calls up at once [500]
#   --media-calls N        bridged calls in all [= --media-concurrent]
#   --media-rate N         bridged calls started per second [50]
#   --media-secs N         length of a bridged call, a multiple of 8 s [40]
#   --no-media             skip the bridged calls
#   --media-only           only the bridged calls (Switchyard, no signalling runs)
#   --xdp                  Switchyard takes its RTP off the UDP stack with AF_XDP
#                          (`[rtp] xdp = true`; needs root). The packets into its ports
#                          are then not counted: they never reach the capture
#   --record               Switchyard records every call (`[calls] record = true`):
#                          a stereo WAV per call in its storage directory
#   --rtp-ports MIN-MAX    Switchyard's RTP ports in the signalling runs [30000-59999];
#                          each call holds 4 (two legs, even ports), so 30,000 ports
#                          carry about 7,500 concurrent calls: 7,500 calls/s of 1 s calls
#   --only "SYSTEM..."     some of kamailio, switchyard and sipp (SIPp's uac calling its
#                          uas directly: the harness's own limit; its CPU is SIPp's)
#   --nice N               niceness of the systems and SIPp: other work on the machine
#                          then disturbs the run less [-20 as root, else 0]
#   --keep                 keep the work directory (logs, SIPp statistics and errors)
# Environment: SWITCHYARD_BIN (default target/release/switchyard).
#
# Installs nothing. Needs sipp (Debian sip-tester 3.6), kamailio (Debian kamailio 5.6),
# taskset and a release build (`cargo build --release -p switchyard`). Ports: 18060
# (Kamailio), 18064 (Switchyard SIP), 18090 (its HTTP), 18070 (uas), 18080 (uac); RTP
# 50000-59999.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

calls=30000
rate=1000
hold=1000
search_rates="1000 1500 2000 2500 3000 3500 4000 5000 6000 8000"
search_secs=10
tries=2
rtp_ports=30000-59999
search=yes
media=yes
media_conc=500
media_calls=
media_rate=50
media_secs=40
systems="kamailio switchyard"
keep=no
xdp=false
record=false
signalling=yes
if [ "$(id -u)" = 0 ]; then nice=-20; else nice=0; fi
while [ $# -gt 0 ]; do
  case $1 in
    --calls) calls=$2; shift ;;
    --rate) rate=$2; shift ;;
    --hold) hold=$2; shift ;;
    --search-rates) search_rates=$2; shift ;;
    --search-secs) search_secs=$2; shift ;;
    --no-search) search=no ;;
    --tries) tries=$2; shift ;;
    --rtp-ports) rtp_ports=$2; shift ;;
    --media-concurrent) media_conc=$2; shift ;;
    --media-calls) media_calls=$2; shift ;;
    --media-rate) media_rate=$2; shift ;;
    --media-secs) media_secs=$2; shift ;;
    --no-media) media=no ;;
    --media-only) media=yes; signalling=no; systems=switchyard ;;
    --xdp) xdp=true ;;
    --record) record=true ;;
    --only) systems=$2; shift ;;
    --nice) nice=$2; shift ;;
    --keep) keep=yes ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done
media_calls=${media_calls:-$media_conc}

kam_port=18060
sy_port=18064
http_port=18090
uas_port=18070
uac_port=18080
echo_port=50000    # the uas's RTP echo (and +2)
uac_rtp=50004      # the uac's first RTP port; each call takes the next 4
did=01058000000    # the number dialled: national, +861058000000 once normalised
sy_bin=${SWITCHYARD_BIN:-$root/target/release/switchyard}

# What is missing, and how to get it.
missing=()
command -v sipp >/dev/null || missing+=("sipp: apt-get install sip-tester")
command -v taskset >/dev/null || missing+=("taskset: apt-get install util-linux")
run_kam=no run_sy=no run_sipp=no
for s in $systems; do
  case $s in
    kamailio)
      if command -v kamailio >/dev/null; then run_kam=yes
      else missing+=("kamailio: apt-get install kamailio"); fi ;;
    sipp) run_sipp=yes ;;
    switchyard)
      if [ -x "$sy_bin" ]; then run_sy=yes
      else missing+=("$sy_bin: cargo build --release -p switchyard"); fi ;;
    *) echo "unknown system $s (kamailio, switchyard or sipp)" >&2; exit 64 ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing:"; printf '  %s\n' "${missing[@]}"
  if ! command -v sipp >/dev/null || ! command -v taskset >/dev/null ||
    [ $run_kam$run_sy$run_sipp = nonono ]; then exit 1; fi
  echo "(measuring what is there)"
fi
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (system on CPU 0, SIPp on CPU 1)" >&2; exit 1; }

work=$(mktemp -d /tmp/b2bua-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"/data-*
  if [ $keep = yes ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tick=$(getconf CLK_TCK)
# Pinned to one CPU, at the chosen niceness, in a session of its own (commands, not
# functions, so that $! is the program's own process). With the kernel's autogroups, a
# niceness only weighs against processes of the same session, so `boost` also gives the
# new session's autogroup the niceness.
on0=(setsid taskset -c 0 nice -n "$nice")
on1=(setsid taskset -c 1 nice -n "$nice")
boost() { # pid: once it leads its own session (never the script's own autogroup)
  local i
  for i in $(seq 50); do
    [ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f4)" = "$1" ] || { sleep 0.02; continue; }
    echo "$nice" 2>/dev/null >"/proc/$1/autogroup" || true
    return 0
  done
}

# --- /proc ---------------------------------------------------------------------------
# The process and every descendant.
tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '{ up[$1] = $2 }
    END { for (p in up) { q = p; while (q != root && q in up) q = up[q]; if (q == root) print p } }'
}
# CPU ticks (user + system, own and reaped children's) of a process tree.
cpu_ticks() {
  local p
  for p in $(tree "$1"); do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null || true; done |
    awk '{ s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
wait_udp() { # port: wait until something listens on it
  local i
  for i in $(seq 100); do
    ss -Hlun "sport = :$1" | grep -q . && return 0
    sleep 0.1
  done
  return 1
}
port_free() { ! ss -Hlun "sport = :$1" | grep -q .; }

# --- SIPp ----------------------------------------------------------------------------
sed "s/HOLD/$hold/" benches/sipp/b2bua_uac.xml >"$work/uac.xml"
# A column of the last line of a SIPp statistics file.
stat() { # file column
  awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i }
    END { print (c && NR > 1 ? $c : "?") }' "$1" 2>/dev/null || echo "?"
}
start_uas() { # name [extra sipp args]
  local name=$1; shift
  "${on1[@]}" sipp "$@" -i 127.0.0.1 -p $uas_port -nostdin -buff_size 4194304 -trace_stat -stf "$work/$name-uas.csv" \
    -fd 1 -trace_err -error_file "$work/$name-uas.err" >/dev/null 2>&1 &
  uas_pid=$!
  boost "$uas_pid"
  pids+=("$uas_pid")
  wait_udp $uas_port || { echo "SIPp uas did not start" >&2; exit 1; }
}
stop_uas() {
  kill "$uas_pid" 2>/dev/null || true
  wait "$uas_pid" 2>/dev/null || true
}
# Starts the uac; sets uac_pid.
start_uac() { # name target [extra sipp args]
  local name=$1 target=$2; shift 2
  "${on1[@]}" sipp "$@" -s "$did" -i 127.0.0.1 -p $uac_port -nostdin -buff_size 4194304 \
    -trace_stat -stf "$work/$name.csv" -fd 1 -trace_err -error_file "$work/$name.err" \
    "$target" >"$work/$name.screen" 2>&1 &
  uac_pid=$!
  pids+=("$uac_pid")
  boost "$uac_pid"
}
# Waits for the uac to end; sets uac_rc (SIPp's exit code).
wait_uac() {
  uac_rc=0
  wait "$uac_pid" || uac_rc=$?
}
# Runs the uac to the end; sets uac_rc.
run_uac() { # name target [extra sipp args]
  start_uac "$@"
  wait_uac
}
# Why calls failed: SIPp's error log, one line per kind of event with its count (the
# hold's expected receive time-outs left out).
errors() { # name
  [ -f "$work/$1.err" ] || return 0
  perl -0777 -ne '
    my %n;
    for (split /\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+: /) {
      next if /jumping to label|^The following events/ || !/\S/;
      s/\r//g;
      my ($first) = /^([^\n]*)/;
      if (/while (expecting \S+|pausing) \(index (\d+)\), received .(.*)/) {
        $first = "unexpected \"$3\" while $1 (step $2)";
      }
      $first =~ s/\b\d+-\d+\@[\d.]+//g;
      $n{$first}++;
    }
    printf "%7d  %s\n", $n{$_}, $_ for (sort { $n{$b} <=> $n{$a} } keys %n)[0 .. 7];
  ' "$work/$1.err" | grep -v '^ *0  $' || true
}
# Switchyard's log (warnings and errors at the default RUST_LOG=warn): its size and its
# most frequent messages.
log_summary() { # file
  local where=""
  [ $keep = no ] || where=" ($1)"
  echo "  Switchyard logged $(grep -c . "$1" || true) lines$where"
  sed 's/\x1b\[[0-9;]*m//g; s/^[^ ]* *//; s/call="[^"]*"//g; s/[0-9][0-9]*/N/g' "$1" |
    sort | uniq -c | sort -rn | head -5 | sed 's/^/    /'
}
# UDP datagrams the kernel dropped for want of receive buffer (whole machine).
udp_drops() { awk '/^Udp:/ { n++; if (n == 2) print $6 }' /proc/net/snmp; }

# RTP packets/s from Switchyard's ports (SRC_MIN-SRC_MAX) to SIPp's (DST_MIN-DST_MAX),
# counted on the loopback interface for a second by a socket filter, without reading
# them (a check that media flows; needs root and python3, else "?").
relayed_pps() { # src_min src_max dst_min dst_max
  command -v python3 >/dev/null || { echo "?"; return; }
  python3 - "$@" 2>/dev/null <<'PY' || echo "?"
import ctypes, socket, struct, sys, time
smin, smax, dmin, dmax = map(int, sys.argv[1:5])
drop = 16
prog = [                               # classic BPF: (code, jt, jf, k)
    (0x30, 0, 0, 0xFFFFF004),          # packet type: the copy sent is seen too
    (0x15, drop - 2, 0, 4),            #   skip PACKET_OUTGOING
    (0x28, 0, 0, 12), (0x15, 0, drop - 4, 0x0800),  # IPv4
    (0x30, 0, 0, 23), (0x15, 0, drop - 6, 17),      # UDP
    (0x28, 0, 0, 20), (0x45, drop - 8, 0, 0x1FFF),  # first fragment
    (0xB1, 0, 0, 14),                  # x = IP header length
    (0x48, 0, 0, 14), (0x35, 0, drop - 11, smin), (0x25, drop - 12, 0, smax),
    (0x48, 0, 0, 16), (0x35, 0, drop - 14, dmin), (0x25, drop - 15, 0, dmax),
    (0x06, 0, 0, 1),                   # count it
    (0x06, 0, 0, 0),                   # drop
]
code = b"".join(struct.pack("HBBI", *i) for i in prog)
buf = ctypes.create_string_buffer(code, len(code))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", len(prog), ctypes.addressof(buf)))
s.bind(("lo", 0))
s.getsockopt(263, 6, 8)                # PACKET_STATISTICS, read and reset
time.sleep(1.0)
print(struct.unpack("II", s.getsockopt(263, 6, 8))[0])   # received, dropped ones included
PY
}

# CDR rows in a Switchyard data directory ("?" without python3).
cdrs() {
  python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from cdr").fetchone()[0])' \
    "$1/switchyard.db" 2>/dev/null || echo "?"
}

# --- the systems -----------------------------------------------------------------------
start_kamailio() {
  port_free $kam_port || { echo "port $kam_port is in use" >&2; exit 1; }
  sed -e "s/PROXY_ADDR/127.0.0.1:$kam_port/g; s/UAS_ADDR/127.0.0.1:$uas_port/g" \
    benches/kamailio/proxy.cfg >"$work/kamailio.cfg"
  "${on0[@]}" kamailio -f "$work/kamailio.cfg" -m 1024 -DD -E >"$work/kamailio.log" 2>&1 &
  sys_pid=$!
  boost "$sys_pid"
  pids+=("$sys_pid")
  wait_udp $kam_port || { echo "Kamailio did not start:" >&2; tail "$work/kamailio.log" >&2; exit 1; }
  sys_target=127.0.0.1:$kam_port
}
start_switchyard() { # name rtp_min rtp_max
  port_free $sy_port || { echo "port $sy_port is in use" >&2; exit 1; }
  local data="$work/data-$1"
  sed -e "s|127.0.0.1:18064|127.0.0.1:$sy_port|; s|127.0.0.1:18090|127.0.0.1:$http_port|" \
    -e "s|127.0.0.1:18070|127.0.0.1:$uas_port|; s|^port_min = .*|port_min = $2|" \
    -e "s|^port_max = .*|port_max = $3|; s|^path = .*|path = \"$data\"|" \
    -e "s|^dialplan = \"|dialplan = \"$root/benches/|; s|^xdp = .*|xdp = $xdp|; s|^record = .*|record = $record|" \
    benches/b2bua.toml >"$work/b2bua.toml"
  RUST_LOG=${RUST_LOG:-warn} "${on0[@]}" "$sy_bin" run --config "$work/b2bua.toml" \
    >"$work/switchyard-$1.out" 2>"$work/switchyard-$1.log" &
  sys_pid=$!
  pids+=("$sys_pid")
  boost "$sys_pid"
  if ! wait_udp $sy_port; then
    local rc=0
    kill -0 "$sys_pid" 2>/dev/null && kill "$sys_pid"
    wait "$sys_pid" || rc=$?
    echo "Switchyard did not start (exit $rc):" >&2
    tail -5 "$work/switchyard-$1.log" >&2
    return 1
  fi
  sys_target=127.0.0.1:$sy_port
}
start_sipp() { # the uac calls the uas directly; the CPU measured is the script's tree
  sys_pid=$$
  sys_target=127.0.0.1:$uas_port
}
stop_system() { # SIGTERM; SIGKILL when it has not ended within 10 s
  local i
  [ "$sys_pid" != $$ ] || return 0
  kill "$sys_pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$sys_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$sys_pid" 2>/dev/null || true
  wait "$sys_pid" 2>/dev/null || true
}

# --- signalling ------------------------------------------------------------------------
# One run of calls at a rate; sets r_ms (CPU ms per call), r_failed, r_ok, r_rate.
measure() { # name rate calls
  local name=$1 r=$2 n=$3 before after t0 t1 drops
  start_uas "$name" -sn uas
  drops=$(udp_drops)
  before=$(cpu_ticks "$sys_pid")
  t0=$(date +%s.%N)
  run_uac "$name" "$sys_target" -sf "$work/uac.xml" -r "$r" -m "$n" -d "$hold" \
    -timeout $((n / r * 3 + 60))s -timeout_error
  t1=$(date +%s.%N)
  after=$(cpu_ticks "$sys_pid")
  stop_uas
  drops=$(( $(udp_drops) - drops ))
  calls_placed=$((calls_placed + n))
  r_ok=$(stat "$work/$name.csv" "SuccessfulCall(C)")
  r_failed=$(stat "$work/$name.csv" "FailedCall(C)")
  [ "$r_ok" = "?" ] || r_failed=$((n - r_ok))   # calls never started count as failed
  # The rate SIPp reached: its calls over the time it took to start them (the run's
  # length without the last call's hold).
  r_rate=$(awk -v n="$n" -v t0="$t0" -v t1="$t1" -v h="$hold" 'BEGIN { printf "%.0f", n / (t1 - t0 - h / 1000) }')
  r_ms=$(awk -v d=$((after - before)) -v k="$tick" -v n="$n" 'BEGIN { printf "%.3f", d / k * 1000 / n }')
  printf '  %-22s %5s calls/s (SIPp reached %6s), %6d calls, %5s failed (SIPp exit %d), %s ms CPU per call\n' \
    "$name" "$r" "$r_rate" "$n" "$r_failed" "$uac_rc" "$r_ms"
  if [ "$r_failed" != 0 ]; then
    echo "    UDP datagrams dropped on full receive buffers meanwhile (whole machine): $drops"
    echo "    SIPp's errors ($work/$name.err):"
    errors "$name" | sed 's/^/    /'
  fi
}

declare -A ms failed best
signalling() { # system
  local s=$1 r name
  calls_placed=0
  echo "== $s: $calls calls at $rate calls/s, ${hold} ms each =="
  measure "$s-$rate" "$rate" "$calls"
  ms[$s]=$r_ms failed[$s]=$r_failed
  best[$s]="none"
  [ $search = yes ] || return 0
  echo "== $s: highest rate with no failed call (${search_secs} s at each) =="
  local try ok
  for r in $search_rates; do
    ok=no
    for try in $(seq "$tries"); do
      sleep 2
      name="$s-search-$r"
      [ "$try" = 1 ] || name="$name-try$try"
      measure "$name" "$r" $((r * search_secs))
      if [ "$r_failed" = 0 ] && [ "$uac_rc" = 0 ]; then ok=yes; break; fi
    done
    [ $ok = yes ] || break
    best[$s]=$r
    # SIPp, not the system, is the limit once it cannot reach the rate asked for.
    if awk -v a="$r_rate" -v r="$r" 'BEGIN { exit !(a < 0.9 * r) }'; then
      best[$s]="$r (SIPp's limit)"
      break
    fi
  done
}

if [ $run_sipp = yes ]; then
  start_sipp
  signalling sipp
fi
if [ $run_kam = yes ]; then
  start_kamailio
  signalling kamailio
  stop_system
fi
if [ $run_sy = yes ] && [ $signalling = yes ]; then
  if start_switchyard signalling "${rtp_ports%-*}" "${rtp_ports#*-}"; then
    signalling switchyard
    stop_system
    echo "  CDRs in its database: $(cdrs "$work/data-signalling") (calls placed: $calls_placed)"
    log_summary "$work/switchyard-signalling.log"
  else
    run_sy=no media=no
  fi
fi

# --- bridged calls with media -------------------------------------------------------------
if [ $media = yes ] && [ $run_sy = yes ]; then
  loops=$(( (media_secs + 7) / 8 ))
  sed "s/LOOPS/$loops/" benches/sipp/b2bua_uac_pcap.xml >"$work/uac_pcap.xml"
  echo "== switchyard: bridged G.711 calls, up to $media_conc at once, $media_calls in all, $((loops * 8)) s each =="
  # Switchyard's RTP ports stay clear of the uac's (4 per call from $uac_rtp).
  sy_rtp_min=$(( (uac_rtp + 4 * media_calls + 1000) / 2 * 2 ))
  if [ $sy_rtp_min -gt 58000 ]; then
    echo "  too many calls for the RTP ports 50000-59999 (at most 1,800)" >&2
    exit 1
  fi
  start_switchyard media $sy_rtp_min 59999
  start_uas media -sf benches/sipp/b2bua_uas_echo.xml -rtp_echo -mp $echo_port
  sleep 1
  rss0=$(rss_kib "$sys_pid")
  t0=$(date +%s.%N)
  cpu0=$(cpu_ticks "$sys_pid")
  start_uac media "$sys_target" -sf "$work/uac_pcap.xml" -r "$media_rate" -l "$media_conc" \
    -m "$media_calls" -mp $uac_rtp -timeout $((media_calls / media_rate + loops * 8 * (media_calls / media_conc + 1) + 120))s \
    -timeout_error
  # Wait for the calls to be up (SIPp's CurrentCall), then measure for a while.
  up=0
  for _ in $(seq $((media_conc / media_rate * 10 + 300))); do
    up=$(stat "$work/media.csv" CurrentCall)
    [ "$up" != "?" ] && [ "$up" -ge "$media_conc" ] && break
    sleep 0.1
  done
  window=$(( loops * 8 - media_conc / media_rate - 8 ))
  [ $window -ge 4 ] || window=4
  [ $window -le 20 ] || window=20
  sleep 2
  cpu1=$(cpu_ticks "$sys_pid"); t1=$(date +%s.%N)
  sleep "$window"
  cpu2=$(cpu_ticks "$sys_pid"); t2=$(date +%s.%N)
  up2=$(stat "$work/media.csv" CurrentCall)
  rss1=$(rss_kib "$sys_pid")
  # The packets into its ports in the same second, counted beside: what it sends out
  # against what it got shows whether it loses any.
  relayed_pps $echo_port $((uac_rtp + 4 * media_calls)) "$sy_rtp_min" 59999 >"$work/rtp-in" &
  rtp_in_pid=$!
  relayed=$(relayed_pps "$sy_rtp_min" 59999 $echo_port $((uac_rtp + 4 * media_calls)))
  wait "$rtp_in_pid" || true
  rtp_in=$(cat "$work/rtp-in")
  wait_uac
  stop_uas
  cpu3=$(cpu_ticks "$sys_pid"); t3=$(date +%s.%N)
  stop_system
  m_ok=$(stat "$work/media.csv" "SuccessfulCall(C)")
  m_failed=$(( media_calls - ${m_ok/\?/0} ))
  m_up=$up2
  # Each bridged call: the pcap's 236 packets (30 ms each) every 8 s from the caller,
  # echoed back by the uas, so Switchyard relays 2 x 236 / 8 = 59 packets/s per call.
  read -r m_load m_ms m_pkt m_kib m_total <<<"$(awk -v c1="$cpu1" -v c2="$cpu2" -v k="$tick" \
    -v t1="$t1" -v t2="$t2" -v up="$up2" -v r0="$rss0" -v r1="$rss1" -v c0="$cpu0" -v c3="$cpu3" \
    -v t0="$t0" -v t3="$t3" 'BEGIN {
      cpu = (c2 - c1) / k; secs = t2 - t1
      printf "%.1f %.3f %.2f %.1f %.1f", 100 * cpu / secs, 1000 * cpu / secs / up,
        1e6 * cpu / (secs * up * 59), (r1 - r0) / up, 100 * (c3 - c0) / k / (t3 - t0) }')"
  printf '  %d calls, %d failed (SIPp exit %d); %s calls up while measured\n' \
    "$media_calls" "$m_failed" "$uac_rc" "$m_up"
  printf '  Switchyard CPU with the calls up: %s%% of a core (%s ms per call per second, %s us per relayed packet); %s%% over the whole run\n' \
    "$m_load" "$m_ms" "$m_pkt" "$m_total"
  # 67 packets/s per call while the pcap plays, none in its 0.95 s gaps: 59 on average.
  printf '  RTP packets/s sent from its ports: %s counted on lo for a second (%s expected); %s into them in the same second\n' \
    "$relayed" "$(awk -v u="$up2" 'BEGIN { printf "%.0f-%.0f", u * 59, u * 67 }')" "$rtp_in"
  printf '  resident memory: %d KiB before, %d KiB with the calls up: %s KiB per bridged call\n' \
    "$rss0" "$rss1" "$m_kib"
  if [ "$m_failed" != 0 ]; then
    echo "    SIPp's errors ($work/media.err):"
    errors media | sed 's/^/    /'
    log_summary "$work/switchyard-media.log"
  fi
fi

# --- summary ---------------------------------------------------------------------------
echo
echo "== summary ($(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
printf '%-44s %14s %14s %8s\n' "" Kamailio Switchyard ratio
if [ $signalling = yes ]; then
ratio=$(awk -v a="${ms[switchyard]:-}" -v b="${ms[kamailio]:-}" \
  'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "-" }')
printf '%-44s %14s %14s %8s\n' "CPU ms per call at $rate calls/s" "${ms[kamailio]:--}" "${ms[switchyard]:--}" "$ratio"
printf '%-44s %14s %14s\n' "failed calls of $calls" "${failed[kamailio]:--}" "${failed[switchyard]:--}"
[ $search = no ] || printf '%-44s %14s %14s\n' "highest rate with no failed call (calls/s)" \
  "${best[kamailio]:--}" "${best[switchyard]:--}"
fi
if [ $media = yes ] && [ $run_sy = yes ]; then
  printf '%-44s %14s %14s\n' "bridged calls up at once (failed of $media_calls)" - "$m_up ($m_failed)"
  printf '%-44s %14s %14s\n' "CPU with them up (% of a core)" - "$m_load"
  printf '%-44s %14s %14s\n' "memory per bridged call (KiB)" - "$m_kib"
fi
if [ $run_sipp = yes ]; then
  printf 'SIPp alone (uac -> uas): %s ms CPU per call for both at %s calls/s, %s failed; highest rate with none: %s\n' \
    "${ms[sipp]}" "$rate" "${failed[sipp]}" "${best[sipp]}"
fi
