#!/usr/bin/env bash
# Fleet rollout benchmark against one controller on this machine, with N
# simulated agents (topos-swarm, the real protocol, each agent running
# deployment steps as no-ops; one swarm process per 2,500 agents, as in
# scripts/bench-fleet.sh). Publishes a topology that puts every
# simulated host in a pool (pools of 10, role "sim") running one small
# service, pushes its artifact, then times
#   toposctl rollout start --max-unavailable MAX_UNAVAILABLE --wait
# and prints: the machine, N, the rollout's wall time, the controller's and
# the swarms' CPU during it (seconds and % of one core), controller RSS
# after, the no-op steps the swarms executed, and the fan-out latencies: per agent, from the start of the
# command until it answered its first step, and until it answered its last
# (min, p50, p99, max). With MAX_UNAVAILABLE=100% every host starts at once;
# each runs the full deploy chain (four steps), so its first step is pushed
# while others' later steps are under way.
# With THEN=rollback it then times
#   toposctl rollout rollback ID --max-unavailable MAX_UNAVAILABLE --wait
# which puts every host back to having no service: one uninstall_service
# step per host. With 100% that is the issue's fan-out exactly (one step
# pushed to every connected agent, until every result is back); it prints
# the same figures for it.
# Last, with the swarms stopped, it times `toposctl rollout watch ID
# --steps` replaying every stored event of the finished rollout.
#
# Usage: scripts/bench-rollout.sh [N=1000] [MAX_UNAVAILABLE=10%] [THEN=none|rollback]
# Environment:
#   TOPOS_BENCH_NO_BUILD=1      reuse an existing build instead of building Release
#   TOPOS_BENCH_BUILD_DIR=DIR   the build to use (default build-release)
#   TOPOS_BENCH_STANDIN=deploy  time `toposctl deploy --host sim-1.bench.test`
#                               instead of the rollout (checks the setup alone)
#   TOPOS_BENCH_SWARMS=K        the number of swarm processes
#   TOPOS_BENCH_SWARM_SCHED=normal  run the swarms as ordinary processes
#                               instead of under SCHED_IDLE (bench-lib.sh)
#   TOPOS_BENCH_AGENT_STATE=disk  keep the simulated agents' state on disk
#                               instead of tmpfs (bench-lib.sh says why)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
count=${1:-1000}
max_unavailable=${2:-10%}
then=${3:-none}
build=${TOPOS_BENCH_BUILD_DIR:-build-release}
standin=${TOPOS_BENCH_STANDIN:-}
bench_build "$build"
[[ "$count" =~ ^[0-9]+$ && "$count" -ge 2 ]] || { echo "N must be a number, at least 2, not '$count'" >&2; exit 2; }
[[ "$then" = none || "$then" = rollback ]] || { echo "THEN must be none or rollback, not '$then'" >&2; exit 2; }
bench_swarm_count "$count"
bench_swarm_sched
bench_raise_fd_limit
ctl="$build/controller/cli/toposctl"
service=noop-svc
version=1.0.0

bench_make_workdir
port=$(( 20000 + RANDOM % 20000 ))
bench_new_controller

# The topology: every simulated host in a pool of ten of role "sim", whose
# one service is $service $version. The host names are the swarm's default.
host() { echo "sim-$1.bench.test"; }
cat > "$work/roles.yaml" <<'EOF'
roles:
  - name: sim
    description: Simulated hosts of the rollout benchmark.
    rule_prefix: sim
EOF
{
  echo "sites:"
  echo "  - name: bench"
  echo "hosts:"
  for ((i = 0; i < count; i++)); do echo "  - fqdn: $(host "$i")"; done
  echo "pools:"
  for ((first = 0; first < count; first += 10)); do
    echo "  - name: sim-pool-$((first / 10))"
    echo "    fqdn: sim-pool-$((first / 10)).bench.test"
    echo "    role: sim"
    echo "    site: bench"
    echo "    hosts:"
    for ((i = first; i < count && i < first + 10; i++)); do echo "      - $(host "$i")"; done
  done
  echo "services:"
  echo "  - name: $service"
  echo "    role: sim"
  echo "    version: $version"
  echo "    artifact: $service-$version.tar.gz"
  echo "    start:"
  echo "      argv: [bin/$service]"
} > "$work/topology.yaml"
"$ctl" topology publish --roles "$work/roles.yaml" -m bench "$work/topology.yaml" \
  > "$work/publish.log" 2>&1 || bench_fail "topology publish: $(cat "$work/publish.log")"
mkdir -p "$work/artifact/bin"
printf '#!/bin/sh\nexec sleep infinity\n' > "$work/artifact/bin/$service"
chmod +x "$work/artifact/bin/$service"
tar -czf "$work/$service-$version.tar.gz" -C "$work/artifact" .
"$ctl" artifact push "$work/$service-$version.tar.gz" --service "$service" --version "$version" \
  > "$work/push.log" 2>&1 || bench_fail "artifact push: $(cat "$work/push.log")"

# The swarms hold their agents until we stop them (SIGTERM), then print
# their totals and write their agents' step times.
bench_start_swarms "$count" --hold 3600 --ready-file "$work/ready.{k}" \
  --step-times "$work/step-times.{k}"
bench_wait_for_connected "$count"
# Every agent applies the published slice on connecting; the plan must see
# every host online with changes to make.
"$ctl" rollout plan > "$work/plan-before.log" 2>&1 || bench_fail "rollout plan: $(cat "$work/plan-before.log")"
plan_before=$(tail -1 "$work/plan-before.log")

if [ "$standin" = deploy ]; then
  rollout=("$ctl" deploy --host "$(host 1)")
  converged=1
else
  rollout=("$ctl" rollout start --max-unavailable "$max_unavailable" --wait)
  converged=$count
fi
sleep 1  # let the connection burst settle before measuring
t0=$(bench_cpu_ticks "$controller_pid"); s0=$(bench_swarms_cpu_ticks); start=$(bench_now); start_ms=$(bench_now_ms)
rollout_status=0
"${rollout[@]}" > "$work/rollout.log" 2>&1 || rollout_status=$?
end=$(bench_now); t1=$(bench_cpu_ticks "$controller_pid"); s1=$(bench_swarms_cpu_ticks)
rss=$(bench_rss_mib "$controller_pid")
# The controller stores the services the agents report a moment later;
# wait (up to 15 s) for the plan to show the hosts converged.
for _ in $(seq 1 75); do
  "$ctl" rollout plan > "$work/plan-after.log" 2>&1 || true
  grep -q " $converged converged," "$work/plan-after.log" && break
  sleep 0.2
done
plan_after=$(tail -1 "$work/plan-after.log")
rollout_id=$(sed -n 's/^rollout \(r-[0-9a-f]*\) .*/\1/p' "$work/rollout.log" | tail -1)

# The one-step fan-out: undo the rollout, one uninstall_service per host.
rollback_status=0
timed_rollback=""
[ "$then" = rollback ] && [ -z "$standin" ] && timed_rollback=1
if [ -n "$timed_rollback" ]; then
  [ "$rollout_status" -eq 0 ] && [ -n "$rollout_id" ] || bench_fail "no finished rollout to roll back: $(tail -5 "$work/rollout.log")"
  sleep 1
  rb_t0=$(bench_cpu_ticks "$controller_pid"); rb_s0=$(bench_swarms_cpu_ticks)
  rb_start=$(bench_now); rb_start_ms=$(bench_now_ms)
  "$ctl" rollout rollback "$rollout_id" --max-unavailable "$max_unavailable" --wait \
    > "$work/rollback.log" 2>&1 || rollback_status=$?
  rb_end=$(bench_now); rb_t1=$(bench_cpu_ticks "$controller_pid"); rb_s1=$(bench_swarms_cpu_ticks)
fi

bench_stop_swarms TERM
# What an operator who runs `rollout watch` on the finished rollout waits
# for: every stored event replayed (--steps prints each), swarms stopped.
replay=""
if [ -n "$rollout_id" ] && [ -z "$standin" ]; then
  replay_start=$(bench_now)
  "$ctl" rollout watch "$rollout_id" --steps > "$work/replay.log" 2>&1 || true
  replay_end=$(bench_now)
  replayed=$(grep -c -E '^[0-9]{2}:[0-9]{2}:[0-9]{2}  ' "$work/replay.log" || true)
  replay=$(awk -v s="$replay_start" -v e="$replay_end" -v n="$replayed" \
    'BEGIN { printf "%d events in %.2f s (%.0f events/s)", n, e - s, (e > s ? n / (e - s) : 0) }')
fi
steps=$(sed -n 's/^no-op steps executed: \([0-9]*\).*/\1/p' "$work"/swarm.*.log | awk '{s += $1} END {print s + 0}')

bench_machine
echo "agents: $count (simulated, no-op steps) in $swarms swarm processes (scheduling: ${TOPOS_BENCH_SWARM_SCHED:-idle}; agents' state on $(bench_agent_state_kind)), controller and swarms on the same machine"
grep -h -E "^(enrolled|connected)" "$work"/swarm.*.log
echo "command: ${rollout[*]#"$build/controller/cli/"}"
echo "plan before: $plan_before"
# print_times WHAT START END CONTROLLER_TICKS SWARM_TICKS
print_times() {
  awk -v what="$1" -v s="$2" -v e="$3" -v d="$4" -v sw="$5" -v hz="$ticks" 'BEGIN {
    wall = e - s; cpu = d / hz
    printf "%s wall time: %.2f s\n", what, wall
    printf "controller CPU during it: %.2f s (%.1f%% of one core)\n", cpu, (wall > 0 ? 100 * cpu / wall : 0)
    printf "swarms CPU during it: %.2f s (%.1f%% of one core)\n", sw / hz, (wall > 0 ? 100 * sw / hz / wall : 0)
  }'
}
print_times rollout "$start" "$end" $((t1 - t0)) $((s1 - s0))
echo "controller RSS after: $rss MiB"
echo "no-op steps executed by the swarms: ${steps:-unknown}"
# Latency percentiles over the agents: column 2 (first step answered) or 3
# (last step answered), in ms since the command started (START_MS, the
# rollout's by default); answers from before it are left out.
percentiles() {
  awk -v c="$1" -v s="${2:-$start_ms}" '$c >= s {print $c - s}' "$work"/step-times.* | sort -n |
    awk '{v[NR] = $1} END {
      if (NR == 0) { print "none answered"; exit }
      p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
      printf "min %.2f s, p50 %.2f s, p99 %.2f s, max %.2f s (%d agents)\n", v[1] / 1000, p50 / 1000, p99 / 1000, v[NR] / 1000, NR
    }'
}
if cat "$work"/step-times.* > /dev/null 2>&1; then
  echo "fan-out, command start -> agent answered its first step: $(percentiles 2)"
  # The swarm keeps each agent's first and last answer; after a rollback
  # the last is the rollback's.
  if [ -n "$timed_rollback" ]; then
    echo "fan-out, command start -> agent answered its last step: not measured (the rollback answered after it)"
  else
    echo "fan-out, command start -> agent answered its last step: $(percentiles 3)"
  fi
fi
if [ -n "$timed_rollback" ]; then
  echo "then: toposctl rollout rollback ID --max-unavailable $max_unavailable --wait (one uninstall_service step per host)"
  print_times "one-step rollback" "$rb_start" "$rb_end" $((rb_t1 - rb_t0)) $((rb_s1 - rb_s0))
  echo "fan-out of one step, rollback start -> agent answered it: $(percentiles 3 "$rb_start_ms")"
fi
[ -n "$replay" ] && echo "rollout watch of the finished rollout: $replay"
echo "plan after: $plan_after"
grep -q " $converged converged," "$work/plan-after.log" \
  || echo "WARNING: expected $converged converged hosts after the command"
if [ "$rollout_status" -ne 0 ]; then
  echo "rollout command failed (exit $rollout_status):"
  tail -20 "$work/rollout.log"
  exit 1
fi
echo "rollout output (last lines):"
tail -3 "$work/rollout.log" | sed 's/^/  /'
if [ "$rollback_status" -ne 0 ]; then
  echo "rollback command failed (exit $rollback_status):"
  tail -20 "$work/rollback.log"
  exit 1
fi
