#!/usr/bin/env bash
# Full deployment benchmark against Ansible on this machine: N real
# topos-agent processes (each its own state directory, the built-in
# supervisor) and one controller, then the same per-host work done by
# Ansible's local connection on N host directories
# (../shared/bench/ansible/run.sh, when ansible-playbook is installed).
#
# Per host, both sides: write a small config (Topos: setup_local_store),
# unpack a ~1 MB incompressible tarball (install_service: fetch + SHA-256
# verify + unpack), an ECDSA P-256 key and CSR signed by a CA (Topos:
# request_certificate + assign_certificate, signed by the controller's CA),
# start `/usr/bin/python3 -m http.server PORT --bind 127.0.0.1`, wait for
# its port (Topos: the service's health_check tcp_port, inside start_service).
#
# Untimed: controller up, N artifacts pushed, N agents enrolled and online
# ("agents installed", Ansible's hosts being reachable). Timed: from
# `toposctl topology publish` through `toposctl rollout start
# --max-unavailable 100% --wait` until every host's service is healthy.
# Each host needs its own port and health_check.tcp_port is per service, so
# every host gets its own role, one-host pool and service app-N (port
# base+N); all pools are in the rollout's first stage, so all N go at once.
#
# Prints the machine, then one line per figure: wall time (and per host),
# controller CPU, the agents' CPU, peak agent RSS; then Ansible's deploy
# time for the same N and the ratio.
#
# Usage: scripts/bench-deploy.sh [N=100]
# Environment:
#   TOPOS_BENCH_NO_BUILD=1   reuse build-release/ instead of building Release
#   TOPOS_BENCH_BIN=DIR      another build directory (default build-release)
#   TOPOS_BENCH_NO_ANSIBLE=1 skip the Ansible side
#   MODE=all|full            passed to run.sh (default all: its deploy_s is
#                            compared; full: its whole-playbook wall_s, which
#                            includes an up-check and a teardown)
#   MAX_TRIES=1              run.sh's retries of a phase disturbed by other load
#   TOPOS_BENCH_LOGS=DIR     copy the controller's, the agents' and the rollout's logs there
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
count=${1:-100}
bench_build build-release
[ "$count" -ge 1 ] && [ "$count" -le 1000 ] || { echo "N must be 1..1000" >&2; exit 2; }
bench_raise_fd_limit
build=${TOPOS_BENCH_BIN:-build-release}
ctl=$build/controller/cli/toposctl
harness=../shared/bench/ansible/run.sh

bench_make_workdir
bench_fail_logs=("$work/agents/h1.log")
agent_pids=()
# Services run as detached process groups; the supervisor's pid files
# (AGENT_STATE/supervisor/app-N.pid, "pid=...") name each group's leader.
# SIGKILL: the agent's children inherit its blocked SIGTERM and SIGINT.
kill_services() {
  local f pid
  while IFS= read -r f; do
    pid=$(sed -n 's/^pid=\([0-9]*\)$/\1/p' "$f" 2>/dev/null | head -1)
    [ -z "$pid" ] || kill -KILL -- "-$pid" 2>/dev/null || true
  done < <(find "$work/agents" -name 'app-*.pid' 2>/dev/null)
  return 0
}
stop_topos() {
  for pid in "${agent_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  kill_services
  [ -z "$controller_pid" ] || kill "$controller_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  agent_pids=()
  controller_pid=""
}
cleanup() {
  stop_topos
  if [ -d "$work/ansible/hosts" ]; then  # an interrupted Ansible run leaves its services
    for f in "$work"/ansible/hosts/*/run/svc.pid; do
      [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
  fi
  bench_cleanup
}
trap cleanup EXIT

# Controller on 30000-39999, services on 40000-50999+N; Ansible's harness
# uses 20001..20000+N.
port=$(( 30000 + RANDOM % 10000 ))
svc_base=$(( 40000 + RANDOM % 10000 ))
host() { echo "h$1.bench.test"; }

# ---- untimed preparation ----------------------------------------------------
# The artifact, as Ansible's harness makes it: bin/app, 1 MiB of random bytes,
# etc/app.conf.
mkdir -p "$work/pkg/bin" "$work/pkg/etc"
head -c 1048576 /dev/urandom > "$work/pkg/bin/payload.bin"
printf '#!/bin/sh\necho app 1.0\n' > "$work/pkg/bin/app"
chmod +x "$work/pkg/bin/app"
printf 'listen=0.0.0.0\n' > "$work/pkg/etc/app.conf"
tar -C "$work/pkg" -czf "$work/app-1.0.tar.gz" bin etc
artifact_bytes=$(stat -c %s "$work/app-1.0.tar.gz")

{
  echo "roles:"
  for ((n = 1; n <= count; n++)); do
    echo "  - name: bench-$n"
    echo "    description: host $n of the full deployment benchmark"
  done
} > "$work/roles.yaml"
{
  echo "sites:"
  echo "  - name: lab"
  echo "hosts:"
  for ((n = 1; n <= count; n++)); do echo "  - fqdn: $(host "$n")"; done
  echo "pools:"
  for ((n = 1; n <= count; n++)); do
    echo "  - name: pool-$n"
    echo "    fqdn: pool-$n.bench.test"
    echo "    role: bench-$n"
    echo "    site: lab"
    echo "    hosts: [$(host "$n")]"
  done
  echo "services:"
  for ((n = 1; n <= count; n++)); do
    p=$((svc_base + n))
    echo "  - name: app-$n"
    echo "    role: bench-$n"
    echo "    version: \"1.0\""
    echo "    artifact: app-1.0.tar.gz"
    echo "    start: {argv: [/usr/bin/python3, -m, http.server, \"$p\", --bind, 127.0.0.1]}"
    echo "    restart: {policy: on-failure}"
    echo "    health_check: {tcp_port: $p, timeout_seconds: 60}"
    echo "    certificate: {cert_file: tls/cert.pem, key_file: tls/key.pem}"
  done
} > "$work/topology.yaml"

bench_new_controller

# The same tarball for every service app-N (4 pushes at a time).
for ((n = 1; n <= count; n++)); do
  echo "$n"
done | xargs -P 4 -I{} "$ctl" artifact push "$work/app-1.0.tar.gz" --service "app-{}" --version 1.0 \
  > "$work/push.log" 2>&1 || bench_fail "artifact push: $(tail -3 "$work/push.log")"

"$ctl" token create --count "$count" --host-pattern 'h{n}.bench.test' \
  --state-dir-pattern "$work/agents/h{n}" --output command > "$work/tokens.txt" \
  2> "$work/token.log" || bench_fail "token create: $(cat "$work/token.log")"
[ "$(wc -l < "$work/tokens.txt")" -eq "$count" ] || bench_fail "token create printed $(wc -l < "$work/tokens.txt") commands"
mkdir -p "$work/agents"
n=0
while read -r -a argv; do
  n=$((n + 1))
  # argv: topos-agent run --controller ... --token ... --state-dir ... ; run ours.
  GRPC_VERBOSITY=ERROR "$build/agent/topos-agent" run "${argv[@]:2}" --service-manager supervisor \
    > "$work/agents/h$n.log" 2>&1 &
  agent_pids+=($!)
done < "$work/tokens.txt"
online=0
for _ in $(seq 1 600); do
  online=$("$ctl" hosts --output json 2>/dev/null | grep -c '"status": "online"' || true)
  [ "$online" -ge "$count" ] && break
  sleep 0.2
done
[ "$online" -ge "$count" ] || bench_fail "only $online of $count agents online"

agents_ticks() {
  local sum=0 pid
  for pid in "${agent_pids[@]}"; do sum=$((sum + $(bench_cpu_ticks "$pid"))); done
  echo "$sum"
}
agents_rss_kib() {  # $1: VmRSS or VmHWM; prints the largest over the agents
  local pid
  for pid in "${agent_pids[@]}"; do bench_status_kib "$pid" "$1" 2>/dev/null; done \
    | sort -n | tail -1
}
idle_rss=$(agents_rss_kib VmRSS)
sleep 1  # let the enrollment burst settle
i0=$(( $(bench_cpu_ticks "$controller_pid") + $(agents_ticks) ))
sleep 2  # the fleet's idle CPU, for comparison
i1=$(( $(bench_cpu_ticks "$controller_pid") + $(agents_ticks) ))

# ---- timed: publish -> rollout -> every service healthy ---------------------
c0=$(bench_cpu_ticks "$controller_pid"); a0=$(agents_ticks); start=$(bench_now)
"$ctl" topology publish --roles "$work/roles.yaml" -m bench "$work/topology.yaml" \
  > "$work/publish.log" 2>&1 || bench_fail "topology publish: $(cat "$work/publish.log")"
published=$(bench_now)
rollout_status=0
"$ctl" rollout start --max-unavailable 100% --failure-threshold 100% --step-timeout 5m --wait \
  > "$work/rollout.log" 2>&1 || rollout_status=$?
end=$(bench_now); c1=$(bench_cpu_ticks "$controller_pid"); a1=$(agents_ticks)
peak_rss=$(agents_rss_kib VmHWM)

# Every service's port answers (the rollout's health checks said so already).
answering=0
for ((n = 1; n <= count; n++)); do
  (exec 3<> "/dev/tcp/127.0.0.1/$((svc_base + n))") 2>/dev/null && answering=$((answering + 1))
done
certs=$(find "$work/agents" -path '*app-*' -name cert.pem | wc -l)

bench_machine
echo "setup: $count real topos-agent processes (supervisor) and one controller on this machine; artifact $(awk "BEGIN {printf \"%.2f\", $artifact_bytes / 1e6}") MB (incompressible), one service per host"
awk -v s="$start" -v p="$published" -v e="$end" -v n="$count" 'BEGIN {
  wall = e - s
  printf "topos full deployment: %d hosts, publish → all healthy in %.2f s (%.3f s per host; publish %.2f s, rollout %.2f s)\n", n, wall, wall / n, p - s, e - p
}'
awk -v s="$start" -v e="$end" -v d=$((c1 - c0)) -v hz="$ticks" 'BEGIN {
  wall = e - s; cpu = d / hz
  printf "controller CPU during it: %.2f s (%.0f%% of one core)\n", cpu, (wall > 0 ? 100 * cpu / wall : 0)
}'
awk -v d=$((a1 - a0)) -v hz="$ticks" -v n="$count" 'BEGIN {
  printf "agents CPU during it (sum): %.2f s (%.3f s per agent; their services not counted)\n", d / hz, d / hz / n
}'
awk -v d=$((i1 - i0)) -v hz="$ticks" 'BEGIN {
  printf "idle before it (controller + agents, 2 s): %.0f%% of one core\n", 100 * d / hz / 2
}'
echo "agent RSS: idle before $((idle_rss / 1024)) MiB, peak (largest VmHWM) $((peak_rss / 1024)) MiB"
echo "check: $answering of $count service ports answer, $certs service certificates on disk"
# Where each host's time goes: the agents log every step's start and end
# with millisecond timestamps; medians over the hosts of each step and of
# the gap before it (the controller's turn: the previous result reported,
# the next step sent).
python3 - "$work/agents" <<'PY' || true
import datetime, glob, re, statistics, sys
def ts(text): return datetime.datetime.fromisoformat(text).timestamp()
took, gap = {}, {}
order = []
for path in glob.glob(sys.argv[1] + "/h*.log"):
    started, last_end = {}, None
    for line in open(path, errors="replace"):
        m = re.match(r"(\S+) \w+ \[agent\] step (\S+) (\w+) .*started$", line)
        if m:
            started[m.group(2)] = (ts(m.group(1)), m.group(3))
            if m.group(3) not in order: order.append(m.group(3))
            if last_end is not None: gap.setdefault(m.group(3), []).append(ts(m.group(1)) - last_end)
            continue
        m = re.match(r"(\S+) \w+ \[agent\] step (\S+) \w+ STEP_", line)
        if m and m.group(2) in started:
            last_end = ts(m.group(1))
            took.setdefault(started[m.group(2)][1], []).append(last_end - started[m.group(2)][0])
parts = []
for step in order:
    text = "%s %.2f" % (step.lower(), statistics.median(took.get(step, [0])))
    if step in gap: text += " (gap before %.2f)" % statistics.median(gap[step])
    parts.append(text)
print("per host, median s: " + ", ".join(parts))
PY
if [ -n "${TOPOS_BENCH_LOGS:-}" ]; then  # keep the logs for a closer look
  mkdir -p "$TOPOS_BENCH_LOGS"
  cp "$work"/*.log "$work"/agents/*.log "$TOPOS_BENCH_LOGS"/
fi
if [ "$rollout_status" -ne 0 ] || [ "$answering" -ne "$count" ]; then
  echo "rollout failed (exit $rollout_status):"
  tail -20 "$work/rollout.log"
  exit 1
fi
topos_s=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", e - s}')
topos_cpu=$(awk -v d=$((c1 - c0 + a1 - a0)) -v hz="$ticks" 'BEGIN {printf "%.2f", d / hz}')
stop_topos  # Ansible's harness waits for a quiet machine

# ---- Ansible: the same work on N host directories ---------------------------
if [ -n "${TOPOS_BENCH_NO_ANSIBLE:-}" ]; then
  echo "ansible: skipped (TOPOS_BENCH_NO_ANSIBLE)"
  exit 0
fi
if ! command -v ansible-playbook > /dev/null; then
  echo "ansible: not installed (apt-get install ansible-core ansible), comparison skipped"
  exit 0
fi
if [ ! -x "$harness" ]; then
  echo "ansible: no harness at $harness, comparison skipped"
  exit 0
fi
crypto=collection
ansible-galaxy collection list community.crypto 2>/dev/null | grep -q '^community.crypto' || crypto=cmd
mode=${MODE:-all}
ansible_line=$(ANSIBLE_BENCH_DIR="$work/ansible" QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-20} \
  MAX_TRIES=${MAX_TRIES:-1} CRYPTO=${CRYPTO:-$crypto} MODE="$mode" \
  bash "$harness" "$count" 10 2> "$work/ansible.log" | grep '^ansible' || true)
if [ -z "$ansible_line" ]; then
  echo "ansible: run failed"
  tail -20 "$work/ansible.log"
  exit 1
fi
echo "$ansible_line (crypto=${CRYPTO:-$crypto})"
if [ "$mode" = all ]; then
  ansible_s=$(sed -n 's/.* deploy_s=\([0-9.]*\).*/\1/p' <<< "$ansible_line")
  ansible_cpu=$(sed -n 's/.* deploy_cpu_s=\([0-9.]*\).*/\1/p' <<< "$ansible_line"); what=deploy
else
  ansible_s=$(sed -n 's/.* wall_s=\([0-9.]*\).*/\1/p' <<< "$ansible_line")
  ansible_cpu=$(sed -n 's/.* cpu_s=\([0-9.]*\).*/\1/p' <<< "$ansible_line")
  what="whole playbook: deploy, up-check, teardown"
fi
awk -v a="$ansible_s" -v t="$topos_s" -v n="$count" -v w="$what" 'BEGIN {
  printf "ansible: %d hosts in %.2f s (%.2f s per host, %s)\n", n, a, a / n, w
  printf "ratio: ansible / topos = %.1f× (goal ≥ 20×)\n", a / t
}'
awk -v a="$ansible_cpu" -v t="$topos_cpu" 'BEGIN {
  printf "CPU: ansible %.2f s, topos %.2f s (controller + agents), ratio %.1f×\n", a, t, (t > 0 ? a / t : 0)
}'
