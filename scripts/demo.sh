#!/usr/bin/env bash
# The main job: sets up, builds, starts a controller on the embedded SQLite
# store, enrolls three local agents with one-time tokens, deploys the example
# service to chat01 (artifact, install, certificate, start, health check) and
# shows it answering over TLS verified against the controller's CA, then
# prints `toposctl hosts`. Everything lives under .demo/ and is stopped on exit.
# Usage: scripts/demo.sh [--keep]   (--keep leaves controller and agents running)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bash scripts/install-deps.sh
bash scripts/build.sh build Debug
bin=$PWD/build
controller="$bin/controller/topos-controller"
agent="$bin/agent/topos-agent"
ctl="$bin/controller/cli/toposctl"

demo=$PWD/.demo
rm -rf "$demo"
mkdir -p "$demo"
port=${TOPOS_DEMO_PORT:-17443}
pids=()
stop_all() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
# Services outlive their agent by design; the demo stops the one it started.
service_pid=""
stop_service() { [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true; }
$keep || trap 'stop_all; stop_service' EXIT

echo "== validate the example topology offline"
"$ctl" topology validate --roles examples/pchat/roles.yaml examples/pchat/topology.yaml

echo "== init: CA, server certificate, first operator"
"$controller" init --data-dir "$demo/controller" --name controller.topos.test \
  --listen "127.0.0.1:$port"
"$controller" run --data-dir "$demo/controller" > "$demo/controller.log" 2>&1 &
pids+=($!)
export TOPOS_CONTROLLER="127.0.0.1:$port" TOPOS_CREDS="$demo/controller/admin"
for _ in $(seq 1 50); do "$ctl" hosts > /dev/null 2>&1 && break; sleep 0.2; done

echo "== publish the Persistent Chat topology"
"$ctl" topology publish --roles examples/pchat/roles.yaml -m "initial deployment" \
  examples/pchat/topology.yaml

for host in fe01.contoso.test chat01.contoso.test chat02.contoso.test; do
  echo "== token and enrollment for $host"
  command=$("$ctl" token create --host "$host" --ttl 10m --state-dir "$demo/agents/$host" --output command)
  echo "   $command" | sed -E 's/--token [^ ]+/--token <secret>/'
  read -r -a argv <<< "$command"
  # Run the printed command with `run` instead of `enroll`: enroll, then stay connected.
  "$agent" run "${argv[@]:2}" --heartbeat 2s --service-manager supervisor \
    > "$demo/agent-$host.log" 2>&1 &
  pids+=($!)
done

echo "== waiting for the agents to connect"
for _ in $(seq 1 75); do
  online=$("$ctl" hosts --output json | grep -c '"status": "online"' || true)
  [ "$online" -ge 3 ] && break
  sleep 0.2
done
for _ in $(seq 1 50); do
  "$ctl" replication status --output json | grep -q '"up_to_date": false' || break
  sleep 0.2
done
echo
echo "== push the example service's artifact and deploy it to chat01"
"$ctl" artifact push "$bin/artifacts/topos-pchat-6.0.9319.tar.gz" --service topos-pchat --version 6.0.9319
"$ctl" deploy --host chat01.contoso.test | tee "$demo/deploy.log"
service_pid=$(sed -n 's/.*running (pid \([0-9]*\)).*/\1/p' "$demo/deploy.log" | head -1)
echo
echo "== the service answers over TLS, verified against the controller's CA"
echo "\$ curl --cacert .demo/controller/ca/ca.pem https://chat01.contoso.test:5041/"
curl -sS --max-time 5 --cacert "$demo/controller/ca/ca.pem" \
  --resolve chat01.contoso.test:5041:127.0.0.1 https://chat01.contoso.test:5041/
echo
echo "== deploy again: every step finds nothing to do"
"$ctl" deploy --host chat01.contoso.test | tail -1
echo
sleep 2  # one heartbeat: the agent reports its services
"$ctl" hosts
echo
"$ctl" hosts show chat01.contoso.test | sed -n '/^Services:/,$p'
echo
echo "== local management store replication"
"$ctl" replication status
echo
echo "== what chat01's services read (topos-agent store show --output summary)"
"$agent" store show --state-dir "$demo/agents/chat01.contoso.test" --output summary
if $keep; then
  echo
  echo "Left running (pids ${pids[*]}). Try: TOPOS_CONTROLLER=$TOPOS_CONTROLLER TOPOS_CREDS=$TOPOS_CREDS $ctl hosts"
fi
[ "${online:-0}" -ge 3 ] || { echo "demo: only ${online:-0} of 3 agents came online; see $demo/*.log" >&2; exit 1; }
