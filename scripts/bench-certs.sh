#!/usr/bin/env bash
# Certificate rollout benchmark against one controller on this machine:
# AGENTS simulated agents (topos-swarm, the real protocol; one process per
# 2,500 agents, as in bench-fleet.sh) each running SERVICES_PER_HOST
# services with a certificate binding, so the
# topology holds AGENTS x SERVICES_PER_HOST certificate-bound placements
# (default 1,000 x 10 = 10,000). Every simulated request_certificate makes a
# real ECDSA P-256 key and CSR and calls AgentService.RequestCertificate over
# the agent's mutual TLS, so the controller really signs each one. Times
#   toposctl certs rollout --all --reissue --max-unavailable 10% --wait
# and prints the total time, certificates per second and their ratio to
# `openssl speed -seconds 3 ecdsap256` sign/s on one core; first, the
# controller's raw signing rate on one thread (topos-sign-bench) against the
# same reference.
#
# Usage: scripts/bench-certs.sh [AGENTS=1000] [SERVICES_PER_HOST=10]
# Environment:
#   TOPOS_BENCH_NO_BUILD=1      reuse an existing build instead of building Release
#   TOPOS_BENCH_BUILD_DIR=DIR   the build to use (default build-release)
#   TOPOS_BENCH_SWARMS=K        the number of swarm processes
#   TOPOS_BENCH_SWARM_SCHED=normal  run the swarms as ordinary processes
#                               instead of under SCHED_IDLE (bench-lib.sh)
#   TOPOS_BENCH_AGENT_STATE=disk  keep the simulated agents' state on disk
#                               instead of tmpfs (bench-lib.sh says why)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
count=${1:-1000}
per_host=${2:-10}
build=${TOPOS_BENCH_BUILD_DIR:-build-release}
bench_build "$build"
[[ "$count" =~ ^[0-9]+$ && "$per_host" =~ ^[0-9]+$ && "$count" -ge 1 && "$per_host" -ge 1 ]] ||
  { echo "AGENTS and SERVICES_PER_HOST must be numbers, at least 1" >&2; exit 2; }
bench_swarm_count "$count"
bench_swarm_sched
bench_raise_fd_limit
ctl="$build/controller/cli/toposctl"
total=$((count * per_host))

bench_make_workdir
bench_machine
sign_rate=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1)}')
echo "reference: openssl speed -seconds 3 ecdsap256 (one core): ${sign_rate} signs/s"
"$build/tests/bench/topos-sign-bench" --seconds 3 --openssl-sign-rate "$sign_rate"

port=$(( 20000 + RANDOM % 20000 ))
bench_new_controller

# The topology names every agent of every swarm (pools of ten of role
# "database", each host running sim-svc-1..K with a certificate binding);
# it is published before the swarms start, so each agent applies its slice
# as it connects. Each swarm then installs the services on its agents
# (no-op) and holds them until we stop it (SIGTERM).
cat > "$work/roles.yaml" <<'ROLES'
roles:
  - name: database
    description: Simulated hosts of the certificate benchmark.
ROLES
"$build/tests/bench/topos-swarm" --write-topology "$work/topology.yaml" --count "$count" \
  --services-per-host "$per_host"
"$ctl" topology publish "$work/topology.yaml" --roles "$work/roles.yaml" -m bench-certs \
  > "$work/publish.log" 2>&1 || bench_fail "topology publish: $(cat "$work/publish.log")"
bench_start_swarms "$count" --services-per-host "$per_host" --hold 3600 --ready-file "$work/ready.{k}"
bench_wait_for_connected "$count"

rollout=("$ctl" certs rollout --all --reissue --max-unavailable 10% --wait)
sleep 1  # let the connection burst settle before measuring
t0=$(bench_cpu_ticks "$controller_pid"); s0=$(bench_swarms_cpu_ticks); start=$(bench_now)
rollout_status=0
"${rollout[@]}" > "$work/rollout.log" 2>&1 || rollout_status=$?
end=$(bench_now); t1=$(bench_cpu_ticks "$controller_pid"); s1=$(bench_swarms_cpu_ticks)
rss=$(bench_rss_mib "$controller_pid")

bench_stop_swarms TERM
issued=$(sed -n 's/.*certificates issued to the agents: \([0-9]*\).*/\1/p' "$work"/swarm.*.log |
  awk '{s += $1} END {print s + 0}')

echo "agents: $count (simulated, in $swarms swarm processes) x $per_host certificate-bound services = $total certificates; controller and swarms on the same machine (swarm scheduling: ${TOPOS_BENCH_SWARM_SCHED:-idle}; agents' state on $(bench_agent_state_kind))"
grep -h -E "^(enrolled|connected|installed)" "$work"/swarm.*.log
echo "command: ${rollout[*]#"$build/controller/cli/"}"
awk -v s="$start" -v e="$end" -v d=$((t1 - t0)) -v sw=$((s1 - s0)) -v hz="$ticks" -v n="${issued:-0}" -v ref="$sign_rate" 'BEGIN {
  wall = e - s; cpu = d / hz
  printf "certificate rollout wall time: %.2f s for %d certificates issued\n", wall, n
  printf "certificate rollout: %.0f certificates/s (%.1f%% of openssl ecdsap256 sign/s on one core; target >= 25%%)\n", (wall > 0 ? n / wall : 0), (wall > 0 && ref > 0 ? 100 * n / wall / ref : 0)
  printf "controller CPU during it: %.2f s (%.1f%% of one core), %.2f ms per certificate\n", cpu, (wall > 0 ? 100 * cpu / wall : 0), (n > 0 ? 1000 * cpu / n : 0)
  printf "swarm CPU during it: %.2f s (%.1f%% of one core), %.2f ms per certificate\n", sw / hz, (wall > 0 ? 100 * sw / hz / wall : 0), (n > 0 ? 1000 * sw / hz / n : 0)
}'
echo "controller RSS after: $rss MiB"
[ "${issued:-0}" -eq "$total" ] || echo "WARNING: expected $total certificates, the swarm got ${issued:-unknown}"
if [ "$rollout_status" -ne 0 ]; then
  echo "certs rollout failed (exit $rollout_status); the failures it reported, then its last lines:"
  grep -v '^stage ' "$work/rollout.log" | grep -i -m 10 'fail' || true
  tail -5 "$work/rollout.log"
  exit 1
fi
echo "rollout output (last lines):"
tail -3 "$work/rollout.log" | sed 's/^/  /'
