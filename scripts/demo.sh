#!/usr/bin/env bash
# The main job: sets up, builds, starts a controller on the embedded SQLite
# store, publishes the example topology, enrolls three local agents with
# one-time tokens, and rolls the topology out to them with the live progress
# view (stage 1 the front end, stage 2 the chat pool: artifact, install,
# certificate, start, health check on each host). Then shows both services
# answering over TLS verified against the controller's CA, and prints
# `toposctl hosts`. Everything lives under .demo/ and is stopped on exit.
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
# Services outlive their agent by design; the demo stops the ones it started
# (through the controller, while it still runs).
stop_services() {
  "$ctl" service stop topos-frontend --host fe01.contoso.test > /dev/null 2>&1 || true
  "$ctl" service stop topos-pchat --host chat01.contoso.test > /dev/null 2>&1 || true
}
$keep || trap 'stop_services; stop_all' EXIT

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

# fe01 and chat01 run services; sql01's role has none, so it is converged
# once its local store has the topology.
for host in fe01.contoso.test chat01.contoso.test sql01.contoso.test; do
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
echo "== push the example service's artifact (the front end runs the same program)"
artifact="$bin/artifacts/topos-pchat-6.0.9319.tar.gz"
"$ctl" artifact push "$artifact" --service topos-pchat --version 6.0.9319
"$ctl" artifact push "$artifact" --service topos-frontend --version 6.0.9319
echo
echo "== what a rollout would change, per host"
"$ctl" rollout plan
echo
echo "== roll the topology out: stores and front ends first, then the pools behind them"
"$ctl" rollout start --max-unavailable 50% --failure-threshold 20% --wait
echo
echo "== the services answer over TLS, verified against the controller's CA"
for target in chat01.contoso.test:5041 fe01.contoso.test:5040; do
  echo "\$ curl --cacert .demo/controller/ca/ca.pem https://$target/"
  curl -sS --max-time 5 --cacert "$demo/controller/ca/ca.pem" \
    --resolve "$target:127.0.0.1" "https://$target/"
  echo
done
echo
sleep 2  # one report flush: the agents' service reports reach the controller
echo "== plan again: every host is converged, a new rollout would change nothing"
"$ctl" rollout plan | tail -1
"$ctl" rollout list
echo
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
