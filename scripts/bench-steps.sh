#!/usr/bin/env bash
# Deployment step benchmark on this machine: one controller, one real
# topos-agent, a service whose artifact is SIZE_MB of incompressible data.
# Prints:
#   - artifact push time (toposctl -> controller);
#   - install_service (fetch + SHA-256 verify + unpack + hook) time and MB/s;
#   - step overhead: start_service step received -> child spawned (agent log);
#   - agent RSS idle (enrolled, one supervised service) and its peak (VmHWM)
#     over the install; its anonymous memory and PSS; its CPU idle over 60 s.
# Builds in Release. Usage: scripts/bench-steps.sh [SIZE_MB=100]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
size_mb=${1:-100}
bench_build build-release  # TOPOS_BENCH_NO_BUILD=1 reuses an existing build-release/
build=${TOPOS_BENCH_BIN:-build-release}  # TOPOS_BENCH_BIN: another build directory
ctl=$build/controller/cli/toposctl

bench_make_workdir
agent_pid=""
# The agent and the service it supervises, then what bench_cleanup stops.
cleanup() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; fi
  if [ -f "$work/service.pid" ]; then kill "$(cat "$work/service.pid")" 2>/dev/null || true; fi
  bench_cleanup
}
trap cleanup EXIT
port=$(( 20000 + RANDOM % 20000 ))
host=bench01.bench.test

# The artifact: a tiny service script plus SIZE_MB of random bytes.
mkdir -p "$work/pkg/bin"
printf '#!/bin/sh\necho $$ > "$BENCH_PID_FILE"\nexec sleep 100000\n' > "$work/pkg/bin/svc"
chmod +x "$work/pkg/bin/svc"
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$work/pkg/payload.bin"
tar -C "$work/pkg" -czf "$work/bench-svc.tar.gz" bin payload.bin
artifact_bytes=$(stat -c %s "$work/bench-svc.tar.gz")

cat > "$work/roles.yaml" <<YAML
roles:
  - name: bench
    description: benchmark service hosts
YAML
cat > "$work/topology.yaml" <<YAML
sites:
  - name: lab
hosts:
  - fqdn: $host
pools:
  - name: bench
    fqdn: bench.bench.test
    role: bench
    site: lab
    hosts: [$host]
services:
  - name: bench-svc
    role: bench
    version: "1"
    artifact: bench-svc
    install_hook: {argv: [test, -f, payload.bin]}
    start: {argv: [bin/svc]}
    env: [{name: BENCH_PID_FILE, value: "$work/service.pid"}]
YAML

bench_new_controller
"$ctl" topology publish --roles "$work/roles.yaml" "$work/topology.yaml" > /dev/null
command=$("$ctl" token create --host "$host" --state-dir "$work/agent" --output command)
read -r -a argv <<< "$command"
GRPC_VERBOSITY=ERROR "$build/agent/topos-agent" run "${argv[@]:2}" --service-manager supervisor \
  > "$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 50); do "$ctl" hosts --output json | grep -q '"status": "online"' && break; sleep 0.2; done

bench_machine
echo "artifact: $(awk "BEGIN {printf \"%.1f\", $artifact_bytes / 1e6}") MB (incompressible), controller and agent on this machine"
idle_before=$(bench_status_kib "$agent_pid" VmRSS)
t0=$(bench_now_ms)
"$ctl" artifact push "$work/bench-svc.tar.gz" --service bench-svc --version 1 > /dev/null
t1=$(bench_now_ms)
echo "push: $((t1 - t0)) ms ($(awk "BEGIN {printf \"%.0f\", $artifact_bytes / 1e3 / ($t1 - $t0)}") MB/s)"
"$ctl" deploy --host "$host" --step-timeout 10m > "$work/deploy.log" || { cat "$work/deploy.log"; exit 1; }
# The agent logs each step's start and outcome with millisecond timestamps.
start_line=$(grep -m1 "INSTALL_SERVICE bench-svc started" "$work/agent.log")
step_id=$(echo "$start_line" | awk '{for (i = 1; i < NF; i++) if ($i == "step") print $(i + 1)}')
end_line=$(grep -m1 "step $step_id INSTALL_SERVICE STEP_" "$work/agent.log")
to_ms() { date -d "$1" +%s%3N; }
install_ms=$(( $(to_ms "${end_line%% *}") - $(to_ms "${start_line%% *}") ))
echo "install_service (fetch + verify + unpack + hook): $install_ms ms ($(awk "BEGIN {printf \"%.0f\", $artifact_bytes / 1e3 / $install_ms}") MB/s)"
grep -o "process spawned [0-9]* us after the step was received" "$work/agent.log" | head -1 \
  | sed -E 's/process spawned ([0-9]+) us.*/step overhead (start_service received -> child spawned): \1 us/'
peak=$(bench_status_kib "$agent_pid" VmHWM)
sleep 12  # a heartbeat or so, idle with one supervised service
echo "agent RSS: idle before deploy $((idle_before / 1024)) MiB, idle after with one supervised service $(( $(bench_status_kib "$agent_pid" VmRSS) / 1024 )) MiB, peak during install $((peak / 1024)) MiB"
# Most of VmRSS is shared library code (gRPC, OpenSSL, protobuf) that other
# processes map too: the agent's own memory is its anonymous pages.
awk '/^Pss:/ {pss = $2} /^Anonymous:/ {anon = $2} END {
  printf "agent private memory idle: anonymous %.1f MiB, PSS %.1f MiB\n", anon / 1024, pss / 1024}' \
  "/proc/$agent_pid/smaps_rollup"
t0=$(bench_cpu_ticks "$agent_pid"); sleep 60; t1=$(bench_cpu_ticks "$agent_pid")
awk -v d=$((t1 - t0)) -v hz="$ticks" 'BEGIN {
  printf "agent CPU idle over 60 s with one supervised service: %.3f%% of one core\n", 100 * d / hz / 60}'
