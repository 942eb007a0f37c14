# shellcheck shell=bash disable=SC2034,SC2154
# (SC2034, SC2154: the scripts read ticks and set build and port.)
# Shared pieces of the benchmark scripts (scripts/bench-*.sh): building or
# reusing the Release build, a work directory that is removed on exit, one
# controller started in it, the simulated agents' swarm, and the CPU time
# and memory of a process. Not a script of its own: source it from the
# checkout's root after `set -euo pipefail`:
#   cd "$(dirname "$0")/.."
#   source scripts/bench-lib.sh
#
# What a script sets, and before which call:
#   build  the build directory whose binaries are run (its controller/,
#          agent/, tests/bench/): before bench_new_controller (or
#          bench_init_controller, bench_start_controller,
#          bench_wait_for_controller).
#   port   the controller's port on 127.0.0.1: before bench_new_controller
#          (bench_init_controller).
#   swarms the number of topos-swarm processes: before bench_start_swarms.
#   bench_fail_logs  (optional array) more logs for bench_fail to show.
# What the library sets:
#   ticks           on sourcing: clock ticks per second, bench_cpu_ticks' unit.
#   work            bench_make_workdir: a new temporary directory.
#   agent_state     bench_make_workdir: where the simulated agents keep their
#                   state (keys, certificates, local stores): see
#                   bench_make_workdir.
#   controller_pid  bench_start_controller: the controller running now.
#   swarm_pids      bench_start_swarms: the swarm processes, swarm K's
#                   output in $work/swarm.K.log.
#   TOPOS_CONTROLLER, TOPOS_CREDS  bench_wait_for_controller exports them,
#                   so toposctl reaches the controller as its administrator.
#
# The EXIT trap: bench_make_workdir sets `trap bench_cleanup EXIT`. A script
# with processes of its own to stop sets its own EXIT trap after that, which
# stops them and then calls bench_cleanup.

ticks=$(getconf CLK_TCK)
bench_fail_logs=()

# Unless TOPOS_BENCH_NO_BUILD is set: installs the build dependencies and
# builds DIR in Release, printing nothing but errors.
bench_build() {
  if [ -z "${TOPOS_BENCH_NO_BUILD:-}" ]; then
    bash scripts/install-deps.sh > /dev/null
    bash scripts/build.sh "$1" Release > /dev/null
  fi
}

# Enough file descriptors for thousands of connections: 65,536, or the hard
# limit when that is lower.
bench_raise_fd_limit() {
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

# "machine: 2 cores, <CPU model>, 8 GiB"
bench_machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
}

# Makes $work and $agent_state, empties controller_pid and swarm_pids, and
# sets the EXIT trap. The simulated agents stand in for machines that each
# write to a disk of their own, in parallel; thousands of them fsyncing one
# shared disk measured the disk, not Topos (per enrollment, a third of the
# swarm's CPU went to creating its files, most of it in ext4 looking for a
# free inode). So their state lives on tmpfs (/dev/shm) when there is one:
# the same files, written and synced the same way, with no disk behind them.
# TOPOS_BENCH_AGENT_STATE=disk keeps it under $work instead.
bench_make_workdir() {
  work=$(mktemp -d)
  agent_state="$work/agents"
  if [ "${TOPOS_BENCH_AGENT_STATE:-tmpfs}" != disk ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    agent_state=$(mktemp -d -p /dev/shm topos-bench-agents.XXXXXX)
  fi
  controller_pid=""
  swarm_pids=()
  trap bench_cleanup EXIT
}

# "tmpfs" or "disk": where bench_make_workdir put the simulated agents' state.
bench_agent_state_kind() {
  case "$agent_state" in /dev/shm/*) echo tmpfs ;; *) echo disk ;; esac
}

# Stops the swarms and the controller when they run, waits for every
# background job and removes $work.
bench_cleanup() {
  bench_stop_swarms INT
  if [ -n "${controller_pid:-}" ]; then kill "$controller_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work" "$agent_state"
}

# bench_fail MESSAGE: "FAIL: MESSAGE" and the last 20 lines of every log in
# $work and of bench_fail_logs, on stderr; exits 1.
bench_fail() {
  local f
  echo "FAIL: $*" >&2
  for f in "$work"/*.log "${bench_fail_logs[@]}"; do
    if [ -f "$f" ]; then echo "--- $f"; tail -20 "$f"; fi
  done >&2
  exit 1
}

# A new controller in $work/ctl, controller.bench.test listening on
# 127.0.0.1:$port, with its administrator's credentials in $work/ctl/admin.
bench_init_controller() {
  "$build/controller/topos-controller" init --data-dir "$work/ctl" --name controller.bench.test \
    --listen "127.0.0.1:$port" > /dev/null
}

# Runs the controller of $work/ctl in the background (log level warn, its
# output appended to $work/controller.log) and sets controller_pid; does not
# wait for it to answer (bench_wait_for_controller does). With
# TOPOS_BENCH_RECONNECT_RATE the controller gets it as --reconnect-rate;
# otherwise it keeps its default (100 per core). On one box the default
# suits better than the openssl s_time rate: the simulated agents, not the
# controller, limit how fast they can come back (docs/benchmarks.md).
bench_start_controller() {
  GRPC_VERBOSITY=ERROR "$build/controller/topos-controller" --log-level warn run \
    --data-dir "$work/ctl" ${TOPOS_BENCH_RECONNECT_RATE:+--reconnect-rate "$TOPOS_BENCH_RECONNECT_RATE"} \
    >> "$work/controller.log" 2>&1 &
  controller_pid=$!
}

# Exports TOPOS_CONTROLLER and TOPOS_CREDS, then waits up to 10 s until
# `toposctl hosts` answers; bench_fail when it does not.
bench_wait_for_controller() {
  export TOPOS_CONTROLLER="127.0.0.1:$port" TOPOS_CREDS="$work/ctl/admin"
  local _
  for _ in $(seq 1 100); do
    "$build/controller/cli/toposctl" hosts > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  bench_fail "controller did not come up"
}

# swarm_sched: how the swarms are run, from TOPOS_BENCH_SWARM_SCHED. They
# stand in for remote machines, so by default they run under SCHED_IDLE:
# they get every cycle the controller leaves and cannot starve the
# controller they measure (at 10,000 their threads held the load average at
# 150 and the controller at 2-5% of a core, so handshakes timed out and the
# reconnect storm never ended). TOPOS_BENCH_SWARM_SCHED=normal runs them as
# ordinary processes. Exits 2 on any other value.
bench_swarm_sched() {
  case "${TOPOS_BENCH_SWARM_SCHED:-idle}" in
    idle) swarm_sched=(chrt --idle 0) ;;
    normal) swarm_sched=() ;;
    *) echo "TOPOS_BENCH_SWARM_SCHED must be idle or normal, not '$TOPOS_BENCH_SWARM_SCHED'" >&2; exit 2 ;;
  esac
}

# bench_swarm_count COUNT: sets swarms from TOPOS_BENCH_SWARMS, by default
# one process per 2,500 agents (so that no process needs more than 2,500
# agents' descriptors and threads); exits 2 when it is not 1 to COUNT.
bench_swarm_count() {
  swarms=${TOPOS_BENCH_SWARMS:-$(( ($1 + 2499) / 2500 ))}
  [[ "$swarms" =~ ^[1-9][0-9]*$ && "$swarms" -le "$1" ]] ||
    { echo "TOPOS_BENCH_SWARMS must be between 1 and N ($1), not '$swarms'" >&2; exit 2; }
}

# bench_start_swarms COUNT ARG...: starts $swarms topos-swarm processes
# (bench_swarm_sched's scheduling) with COUNT agents between them against
# the controller on $port, swarm K taking the agents numbered from its
# --first on. Each gets ARG..., with {k} replaced by its K (so per-swarm
# files can be named "$work/ready.{k}"), and logs to $work/swarm.K.log.
bench_start_swarms() {
  local all=$1 k n first=0 arg args
  shift
  for ((k = 0; k < swarms; k++)); do
    n=$(( all / swarms + (k < all % swarms ? 1 : 0) ))
    args=()
    for arg in "$@"; do args+=("${arg//\{k\}/$k}"); done
    GRPC_VERBOSITY=ERROR "${swarm_sched[@]}" "$build/tests/bench/topos-swarm" \
      --controller "127.0.0.1:$port" --creds "$work/ctl/admin" --state-root "$agent_state" \
      --count "$n" --first "$first" --concurrency $(( 8 / swarms > 1 ? 8 / swarms : 1 )) \
      --max-connecting $(( 200 / swarms > 10 ? 200 / swarms : 10 )) "${args[@]}" \
      > "$work/swarm.$k.log" 2>&1 &
    swarm_pids+=($!)
    first=$(( first + n ))
  done
}

# Every swarm running now: true, or bench_fail naming the one that ended.
bench_swarms_alive() {
  local k
  for k in "${!swarm_pids[@]}"; do
    kill -0 "${swarm_pids[$k]}" 2>/dev/null || bench_fail "swarm $k ended early (see swarm.$k.log)"
  done
}

# bench_wait_for_swarms PATTERN FILE_PREFIX: until every swarm's log holds
# PATTERN (FILE_PREFIX empty) or every swarm's FILE_PREFIX.K is written;
# bench_fail when a swarm ends before.
bench_wait_for_swarms() {
  local k missing
  while :; do
    missing=0
    for ((k = 0; k < swarms; k++)); do
      if [ -n "$2" ]; then [ -s "$2.$k" ] || missing=1
      else grep -q "$1" "$work/swarm.$k.log" 2>/dev/null || missing=1; fi
    done
    [ "$missing" = 0 ] && return 0
    bench_swarms_alive
    sleep 0.2
  done
}

# bench_wait_for_connected COUNT: waits until every swarm (started with
# --ready-file "$work/ready.{k}") has connected its agents; bench_fail when
# one ended before, or when fewer than COUNT are connected in all.
bench_wait_for_connected() {
  local connected
  bench_wait_for_swarms "" "$work/ready"
  connected=$(cat "$work"/ready.* | awk '{s += $1} END {print s + 0}')
  [ "$connected" -eq "$1" ] || bench_fail "only $connected of $1 agents connected"
}

# bench_stop_swarms SIGNAL: sends SIGNAL (TERM, INT) to every swarm, which
# then prints its totals to its log, waits for them and empties swarm_pids.
bench_stop_swarms() {
  local pid
  for pid in "${swarm_pids[@]}"; do kill "-$1" "$pid" 2>/dev/null || true; done
  for pid in "${swarm_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  swarm_pids=()
}

# The CPU time (ticks) every swarm has used so far.
bench_swarms_cpu_ticks() {
  local pid sum=0
  for pid in "${swarm_pids[@]}"; do sum=$(( sum + $(bench_cpu_ticks "$pid") )); done
  echo "$sum"
}

# bench_cpu_ticks PID: the user + system CPU time PID has used, in clock
# ticks ($ticks a second); 0 when it is gone.
bench_cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# bench_status_kib PID FIELD: a memory field of /proc/PID/status in KiB
# (VmRSS: resident now, VmHWM: its peak).
bench_status_kib() {
  awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"
}

# bench_rss_mib PID: resident memory of PID in MiB, one decimal.
bench_rss_mib() {
  awk '$1 == "VmRSS:" {printf "%.1f", $2 / 1024}' "/proc/$1/status"
}

# A new controller on 127.0.0.1:$port, running and answering:
# bench_init_controller, bench_start_controller, bench_wait_for_controller.
bench_new_controller() {
  bench_init_controller
  bench_start_controller
  bench_wait_for_controller
}

# Seconds since the epoch, to the nanosecond; and in milliseconds.
bench_now() { date +%s.%N; }
bench_now_ms() { date +%s%3N; }
