#!/usr/bin/env bash
# Fleet benchmark against one controller on this machine, with N simulated
# agents (topos-swarm: one process, one key, certificate and mutual-TLS
# connection each, the real protocol). Prints:
#   - enrollments per second, and time until all N are connected;
#   - for each publish round: time from `topology publish` until every agent
#     has applied the new version to its local store, and controller CPU;
#   - controller RSS and CPU while holding the N agents idle;
#   - reconnect storm (RESTART=1): the controller is stopped and started
#     again, and the time until every agent is connected again is printed,
#     with the handshake-limited time N / TOPOS_BENCH_HANDSHAKE_RATE when that
#     is set (scripts/bench.sh measures it with openssl s_time).
# Builds in Release. Usage: scripts/bench-fleet.sh [N=1000] [HOLD_SECONDS=30] [PUBLISH_ROUNDS=3] [RESTART=1]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
count=${1:-1000}
hold=${2:-30}
rounds=${3:-3}
restart=${4:-1}
build="build-release"
bench_build "$build"  # TOPOS_BENCH_NO_BUILD=1 reuses an existing build-release/
bench_raise_fd_limit

bench_make_workdir
port=$(( 20000 + RANDOM % 20000 ))
bench_new_controller

bench_machine
echo "agents: $count, heartbeat 30 s, controller and swarm on the same machine"
GRPC_VERBOSITY=ERROR "$build/tests/bench/topos-swarm" --controller "127.0.0.1:$port" \
  --creds "$work/ctl/admin" --state-root "$work/agents" --count "$count" --concurrency 8 \
  --hold 3600 --publish-rounds "$rounds" --roles examples/pchat/roles.yaml \
  --controller-pid "$controller_pid" --reconnect-file "$work/reconnected" > "$work/swarm.log" 2>&1 &
swarm_pid=$!
# Wait for the hold phase, let it settle, then sample a window of it.
until grep -q "^holding" "$work/swarm.log" 2>/dev/null; do
  kill -0 "$swarm_pid" 2>/dev/null || { cat "$work/swarm.log"; exit 1; }
  sleep 0.2
done
sleep 2
window=$(( hold > 6 ? hold - 4 : 2 ))
t0=$(bench_cpu_ticks "$controller_pid"); sleep "$window"; t1=$(bench_cpu_ticks "$controller_pid")
rss=$(bench_rss_mib "$controller_pid")
storm=""
if [ "$restart" = 1 ]; then
  # Reconnect storm: a graceful stop, then a start; the agents find it again
  # on their own (jittered back-off), and the swarm notes when all are back.
  swarm_before=$(bench_cpu_ticks "$swarm_pid")
  kill -TERM "$controller_pid"
  wait "$controller_pid" 2>/dev/null || true
  restarted_ms=$(bench_now_ms)
  bench_start_controller
  c0=0
  for _ in $(seq 1 3000); do  # up to 10 minutes
    [ -s "$work/reconnected" ] && break
    kill -0 "$controller_pid" 2>/dev/null || { tail -20 "$work/controller.log"; exit 1; }
    [ "$c0" = 0 ] && c0=$(bench_cpu_ticks "$controller_pid")
    sleep 0.2
  done
  if [ -s "$work/reconnected" ]; then
    read -r _ back_ms back_count < "$work/reconnected"
    storm=$(awk -v r="$restarted_ms" -v b="$back_ms" -v n="$back_count" -v hs="${TOPOS_BENCH_HANDSHAKE_RATE:-}" \
      -v cpu="$(bench_cpu_ticks "$controller_pid")" -v hz="$ticks" \
      -v swarm="$(( $(bench_cpu_ticks "$swarm_pid") - swarm_before ))" -v cores="$(nproc)" 'BEGIN {
        t = (b - r) / 1000
        printf "reconnect storm: controller restarted, all %d agents connected again %.1f s after it started (controller CPU %.1f s, swarm CPU %.1f s: %.0f%% of %d cores)", n, t, cpu / hz, swarm / hz, 100 * (cpu + swarm) / hz / (cores * t), cores
        if (hs > 0) printf "; handshake-limited time %d / %d per s = %.1f s, ratio %.2f (goal <= 1.5)", n, hs, n / hs, t / (n / hs)
        printf "\n"
      }')
  else
    storm="reconnect storm: not every agent came back within 10 minutes"
  fi
fi
bench_stop_swarm INT
cat "$work/swarm.log"
echo "controller RSS holding $count agents: $rss MiB"
awk -v d=$((t1 - t0)) -v hz="$ticks" -v w="$window" \
  'BEGIN {printf "controller CPU while holding: %.2f%% of one core (over %d s)\n", 100 * d / hz / w, w}'
[ -n "$storm" ] && echo "$storm"
