#!/usr/bin/env bash
# Every benchmark, one command: builds in Release once, measures this
# machine's reference limits with OpenSSL (ECDSA P-256 signatures per second
# on one core; mutual-TLS handshakes per second), then runs each scenario
# script and prints one line per figure, with the machine first. Figures go
# into docs/benchmarks.md by hand, with the date and this command.
#
# Usage: scripts/bench.sh [N=1000]   (simulated agents for the fleet scenarios)
# Environment: TOPOS_BENCH_NO_BUILD=1 reuses build-release/.
# The full deployment scenario (scripts/bench-deploy.sh) deploys to
# TOPOS_BENCH_DEPLOY_N real agents (default 100) and, when ansible-playbook is
# installed, runs Ansible (../shared/bench/ansible/run.sh) on as many hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
count=${1:-1000}
bench_build build-release
export TOPOS_BENCH_NO_BUILD=1

# $work, removed on exit; the openssl s_server below is stopped first.
bench_make_workdir
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  bench_cleanup
}
trap cleanup EXIT

echo "$(bench_machine), $(date -u +%Y-%m-%d)"

# Reference 1: ECDSA P-256 signatures per second, one core.
sign_rate=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1)}')
echo "reference: openssl speed ecdsap256 (one core): ${sign_rate} signatures/s"

# Reference 2: mutual-TLS handshakes per second with ECDSA P-256 keys
# (openssl s_server and s_time on this machine, new session each time).
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key" 2> /dev/null
openssl req -x509 -new -key "$work/ca.key" -subj /CN=bench-ca -days 2 -out "$work/ca.pem" 2> /dev/null
for who in server client; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/$who.key" 2> /dev/null
  openssl req -new -key "$work/$who.key" -subj "/CN=$who" -out "$work/$who.csr" 2> /dev/null
  openssl x509 -req -in "$work/$who.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -out "$work/$who.pem" 2> /dev/null
done
port=$(( 20000 + RANDOM % 20000 ))
openssl s_server -quiet -accept "$port" -cert "$work/server.pem" -key "$work/server.key" \
  -CAfile "$work/ca.pem" -Verify 1 -www > /dev/null 2>&1 &
server_pid=$!
sleep 0.5
handshakes=$(openssl s_time -connect "127.0.0.1:$port" -new -time 5 -cert "$work/client.pem" \
  -key "$work/client.key" -CAfile "$work/ca.pem" 2>/dev/null |
  awk '/connections in [0-9.]+ real seconds/ {n = $1; for (i = 1; i < NF; i++) if ($i == "in") t = $(i + 1); printf "%.0f", n / t; exit}')
kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""
echo "reference: openssl s_time, mutual TLS, ECDSA P-256, new sessions (one client, one server process): ${handshakes} handshakes/s"

echo
echo "== fleet: enrollment storm, agents held, replication, reconnect storm (scripts/bench-fleet.sh $count)"
TOPOS_BENCH_HANDSHAKE_RATE=$handshakes bash scripts/bench-fleet.sh "$count" 30 3 1 |
  grep -Ev '^(machine|agents):|^swarm [0-9]+: ' || echo "bench-fleet failed"
echo
echo "== fan-out: one rollout to all $count agents at once, then its rollback, one step per agent (scripts/bench-rollout.sh $count 100% rollback)"
bash scripts/bench-rollout.sh "$count" 100% rollback | grep -E 'wall time|controller CPU|fan-out' || echo "bench-rollout failed"
echo
echo "== rollout to $count agents, --max-unavailable 10% (scripts/bench-rollout.sh $count)"
bash scripts/bench-rollout.sh "$count" 10% | grep -E 'wall time|controller CPU|RSS|no-op steps' || echo "bench-rollout failed"
echo
echo "== certificate rollout: $count agents x 10 certificate-bound services, --reissue (scripts/bench-certs.sh $count 10)"
bash scripts/bench-certs.sh "$count" 10 | grep -E 'certificates/s|wall time|controller CPU|RSS' || echo "bench-certs failed"
echo
echo "== one real agent: artifact, install, step overhead, footprint (scripts/bench-steps.sh 100)"
bash scripts/bench-steps.sh 100 | grep -Ev '^machine:' || echo "bench-steps failed"

n=${TOPOS_BENCH_DEPLOY_N:-100}
echo
echo "== full deployment to $n real agents vs Ansible on $n local hosts (scripts/bench-deploy.sh $n)"
bash scripts/bench-deploy.sh "$n" | grep -Ev '^machine:' || echo "bench-deploy failed"
