#!/usr/bin/env bash
# Fleet benchmark against one controller on this machine, with N simulated
# agents (topos-swarm: one key, certificate and mutual-TLS connection each,
# the real protocol), split over several swarm processes so that no process
# needs more than 2,500 agents' descriptors and threads. Prints:
#   - the enrollment storm: enrollments per second over all swarms, the
#     controller's and the swarms' CPU per enrollment, and the time until
#     all N are connected;
#   - for each publish round (`toposctl topology publish` of a topology
#     naming all N): time until every agent has applied the new version to
#     its local store, and controller CPU;
#   - controller RSS and CPU while holding the N agents idle;
#   - reconnect storm (RESTART=1): the controller is stopped and started
#     again, and the time until every agent is connected again is printed,
#     with the handshake-limited time N / TOPOS_BENCH_HANDSHAKE_RATE when that
#     is set (scripts/bench.sh measures it with openssl s_time). The return
#     window the controller names at shutdown is N / its --reconnect-rate
#     (TOPOS_BENCH_RECONNECT_RATE, default 100 per core).
# Builds in Release. Usage: scripts/bench-fleet.sh [N=1000] [HOLD_SECONDS=30] [PUBLISH_ROUNDS=3] [RESTART=1]
# TOPOS_BENCH_SWARMS sets the number of swarm processes (default: one per
# 2,500 agents); TOPOS_BENCH_SWARM_SCHED=normal runs them as ordinary
# processes instead of under SCHED_IDLE, and TOPOS_BENCH_AGENT_STATE=disk
# keeps their agents' state on disk instead of tmpfs (scripts/bench-lib.sh
# says why for both). TOPOS_BENCH_ROUND_SCOPE=first-pool changes only the
# first pool's slices in each publish round (every other agent gets the new
# version with the same content) instead of every slice.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
count=${1:-1000}
hold=${2:-30}
rounds=${3:-3}
restart=${4:-1}
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number, not '$count'" >&2; exit 2; }
round_scope=${TOPOS_BENCH_ROUND_SCOPE:-global}
[[ "$round_scope" =~ ^(global|first-pool)$ ]] ||
  { echo "TOPOS_BENCH_ROUND_SCOPE must be global or first-pool, not '$round_scope'" >&2; exit 2; }
bench_swarm_count "$count"
bench_swarm_sched
build="build-release"
bench_build "$build"  # TOPOS_BENCH_NO_BUILD=1 reuses an existing build-release/
bench_raise_fd_limit

bench_make_workdir
port=$(( 20000 + RANDOM % 20000 ))
bench_new_controller
swarm="$build/tests/bench/topos-swarm"

# The lowest local-store version any agent of any swarm has applied.
lowest_applied_version() {
  awk 'NR == 1 || $1 < low {low = $1} END {print low + 0}' "$work"/applied.*
}

bench_machine
echo "agents: $count in $swarms swarm processes (scheduling: ${TOPOS_BENCH_SWARM_SCHED:-idle}; agents' state on $(bench_agent_state_kind)), heartbeat 30 s, controller and swarms on the same machine"
bench_start_swarms "$count" --hold 3600 --start-when "$work/go" --ready-file "$work/ready.{k}" \
  --applied-file "$work/applied.{k}" --reconnect-file "$work/reconnected.{k}"

# Enrollment storm: every swarm has its tokens; all enroll at once.
bench_wait_for_swarms "^tokens created" ""
c0=$(bench_cpu_ticks "$controller_pid"); s0=$(bench_swarms_cpu_ticks); t0=$(bench_now_ms)
touch "$work/go"
bench_wait_for_swarms "^enrolled " ""
c1=$(bench_cpu_ticks "$controller_pid"); s1=$(bench_swarms_cpu_ticks); t1=$(bench_now_ms)
enrolled=$(sed -n 's/^enrolled \([0-9]*\)\/.*/\1/p' "$work"/swarm.*.log | awk '{s += $1} END {print s + 0}')
awk -v n="$enrolled" -v all="$count" -v ms=$((t1 - t0)) -v c=$((c1 - c0)) -v s=$((s1 - s0)) \
  -v hz="$ticks" -v hs="${TOPOS_BENCH_HANDSHAKE_RATE:-}" 'BEGIN {
    rate = n / (ms / 1000)
    printf "enrollment storm: %d/%d enrolled in %.1f s, %.0f enrollments/s", n, all, ms / 1000, rate
    if (hs > 0) printf " (%.2f of the handshake rate %d/s)", rate / hs, hs
    if (n > 0) printf "; controller CPU %.2f ms per enrollment (%.0f/s per core), swarms %.2f ms", \
      1000 * c / hz / n, (c > 0 ? n * hz / c : 0), 1000 * s / hz / n
    printf "\n"
  }'
bench_wait_for_swarms "" "$work/ready"
echo "connected: $(cat "$work"/ready.* | awk '{s += $1} END {print s + 0}')/$count, $(( ($(bench_now_ms) - t0) / 1000 )) s after enrollment started"

# Publish rounds, from outside: the swarms report their agents' lowest
# applied version, and the round ends when every swarm's is the new one.
roles=examples/pchat/roles.yaml
for round in $(seq 1 "$rounds"); do
  "$swarm" --write-topology "$work/topology.$round.yaml" --count "$count" --topology-round "$round" \
    --round-scope "$round_scope"
  c0=$(bench_cpu_ticks "$controller_pid"); s0=$(bench_swarms_cpu_ticks); t0=$(bench_now_ms)
  out=$("$build/controller/cli/toposctl" topology publish "$work/topology.$round.yaml" \
    --roles "$roles" -m "bench-fleet round $round") || bench_fail "publish round $round: $out"
  t_call=$(bench_now_ms)
  version=$(sed -n 's/^Published topology version \([0-9]*\).*/\1/p' <<< "$out")
  [ -n "$version" ] || bench_fail "publish round $round printed no version: $out"
  # The swarms stamp when their agents applied it, so a slow poll loses no
  # precision; a fast one (it was 50 ms) cost a fifth of the machine in
  # forks while the swarms were applying.
  deadline=$(( SECONDS + 180 ))
  while [ "$(lowest_applied_version)" -lt "$version" ] && [ "$SECONDS" -lt "$deadline" ]; do
    bench_swarms_alive; sleep 0.25
  done
  if [ "$(lowest_applied_version)" -ge "$version" ]; then
    t_all=$(cat "$work"/applied.* | awk '$2 > last {last = $2} END {print last}')
    awk -v r="$round" -v v="$version" -v what="$([ "$round_scope" = first-pool ] && echo "the first pool's slices" || echo "every slice")" -v call=$((t_call - t0)) -v all=$((t_all - t0)) -v n="$count" \
      -v c=$(( $(bench_cpu_ticks "$controller_pid") - c0 )) -v s=$(( $(bench_swarms_cpu_ticks) - s0 )) \
      -v hz="$ticks" 'BEGIN {
        printf "publish round %d (version %d, changing %s): publish call %d ms, every one of %d agents applied it %.2f s after the call started (controller CPU %.2f s, swarms %.2f s)\n", r, v, what, call, n, all / 1000, c / hz, s / hz
      }'
  else
    echo "publish round $round (version $version): not every agent applied it within 180 s (lowest applied version $(lowest_applied_version))"
  fi
done

# Hold: let it settle, then sample a window of it.
sleep 2
window=$(( hold > 6 ? hold - 4 : 2 ))
t0=$(bench_cpu_ticks "$controller_pid"); sleep "$window"; t1=$(bench_cpu_ticks "$controller_pid")
rss=$(bench_rss_mib "$controller_pid")
echo "controller RSS holding $count agents: $rss MiB"
awk -v d=$((t1 - t0)) -v hz="$ticks" -v w="$window" \
  'BEGIN {printf "controller CPU while holding: %.2f%% of one core (over %d s)\n", 100 * d / hz / w, w}'

if [ "$restart" = 1 ]; then
  # Reconnect storm: a graceful stop, then a start; the agents find it again
  # on their own (jittered back-off), and each swarm notes when all of its
  # agents are back.
  rm -f "$work"/reconnected.*
  s0=$(bench_swarms_cpu_ticks)
  kill -TERM "$controller_pid"
  wait "$controller_pid" 2>/dev/null || true
  restarted_ms=$(bench_now_ms)
  bench_start_controller
  deadline=$(( restarted_ms + 600000 ))
  until [ "$(ls "$work"/reconnected.* 2>/dev/null | wc -l)" -ge "$swarms" ] ||
        [ "$(bench_now_ms)" -ge "$deadline" ]; do
    kill -0 "$controller_pid" 2>/dev/null || { tail -20 "$work/controller.log"; exit 1; }
    bench_swarms_alive
    sleep 0.2
  done
  if [ "$(ls "$work"/reconnected.* 2>/dev/null | wc -l)" -ge "$swarms" ]; then
    cat "$work"/reconnected.* | awk -v r="$restarted_ms" -v hs="${TOPOS_BENCH_HANDSHAKE_RATE:-}" \
      -v cpu="$(bench_cpu_ticks "$controller_pid")" -v hz="$ticks" \
      -v swarm="$(( $(bench_swarms_cpu_ticks) - s0 ))" -v cores="$(nproc)" '
      {if ($2 > b) b = $2; n += $3}
      END {
        t = (b - r) / 1000
        printf "reconnect storm: controller restarted, all %d agents connected again %.1f s after it started (controller CPU %.1f s, swarms CPU %.1f s: %.0f%% of %d cores)", n, t, cpu / hz, swarm / hz, 100 * (cpu + swarm) / hz / (cores * t), cores
        if (hs > 0) printf "; handshake-limited time %d / %d per s = %.1f s, ratio %.2f (goal <= 1.5)", n, hs, n / hs, t / (n / hs)
        printf "\n"
      }'
  else
    echo "reconnect storm: not every agent came back within 10 minutes"
  fi
fi
bench_stop_swarms INT
# Their own lines (not the agents' warnings, which stay in the logs).
for k in $(seq 0 $((swarms - 1))); do grep -v "\] \[warning\] " "$work/swarm.$k.log" | sed "s/^/swarm $k: /"; done
