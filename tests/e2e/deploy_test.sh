#!/usr/bin/env bash
# End to end with the real binaries: push the example service's artifact,
# deploy it to one agent, reach it over TLS verified against the
# controller's CA, deploy again (nothing changes), then kill -9 the agent:
# the service keeps running and the restarted agent adopts it.
set -euo pipefail
controller_bin=$1 agent_bin=$2 ctl_bin=$3 examples=$4 artifact=$5

source "$(dirname "$0")/lib.sh"
host=chat01.contoso.test
service_port=$(( 40000 + RANDOM % 20000 ))
# The example topology with a port of our own, so parallel runs do not collide.
sed "s/5041/$service_port/g" "$examples/pchat/topology.yaml" > "$work/topology.yaml"

start_controller "$controller_bin" "$ctl_bin"
"$ctl_bin" topology publish --roles "$examples/pchat/roles.yaml" -m e2e "$work/topology.yaml" > /dev/null

command=$("$ctl_bin" token create --host "$host" --state-dir "$work/agent" --output command)
read -r -a argv <<< "$command"
"$agent_bin" run "${argv[@]:2}" --heartbeat 1s --service-manager supervisor > "$work/agent.log" 2>&1 &
agent_pid=$!
pids+=($agent_pid)
eventually bash -c "'$ctl_bin' hosts --output json | grep -q '\"status\": \"online\"'" || fail "agent not online"

# Deploying before the artifact is pushed says what to push.
"$ctl_bin" deploy --host "$host" 2> "$work/no-artifact.log" && fail "deploy without an artifact succeeded"
grep -q "toposctl artifact push" "$work/no-artifact.log" || fail "no hint to push: $(cat "$work/no-artifact.log")"
"$ctl_bin" artifact push "$work/missing.tar.gz" --service topos-pchat --version 6.0.9319 2> "$work/push-missing.log" \
  && fail "pushing a missing file succeeded"
"$ctl_bin" artifact push "$artifact" --service topos-pchat --version 6.0.9319 > "$work/push.log" || fail "push"

"$ctl_bin" deploy --host "$host" --dry-run > "$work/dry.log" || fail "dry run"
grep -q "would run install_service topos-pchat" "$work/dry.log" || fail "dry run lists no install: $(cat "$work/dry.log")"
[ ! -e "$work/agent/services/topos-pchat" ] || fail "dry run installed something"

"$ctl_bin" deploy --host "$host" --step-timeout 60s > "$work/deploy1.log" || fail "first deploy: $(cat "$work/deploy1.log")"
grep -q "changed: installed topos-pchat 6.0.9319" "$work/deploy1.log" || fail "no install in: $(cat "$work/deploy1.log")"
grep -q "health check passed" "$work/deploy1.log" || fail "no health check in: $(cat "$work/deploy1.log")"
[ "$(stat -c %a "$work/agent/services/topos-pchat/tls/key.pem")" = 600 ] || fail "service key is not 0600"

https() {
  curl -sS --max-time 5 --cacert "$work/ctl/ca/ca.pem" --resolve "$host:$service_port:127.0.0.1" \
    "https://$host:$service_port$1"
}
https / | grep -q "Hello from pchat on $host" || fail "service does not answer over verified TLS"

"$ctl_bin" deploy --host "$host" --step-timeout 60s > "$work/deploy2.log" || fail "second deploy"
grep -q "(0 changed, 6 unchanged)" "$work/deploy2.log" || fail "second deploy changed something: $(cat "$work/deploy2.log")"

service_pid=$(sed -n 's/.*running (pid \([0-9]*\)).*/\1/p' "$work/deploy1.log" | head -1)
[ -n "$service_pid" ] || fail "deploy printed no service pid"
pids+=($service_pid)  # services outlive their agent by design: stop it when the test ends
# hosts show learns the services from the agent's next heartbeat.
eventually bash -c "'$ctl_bin' hosts show '$host' | grep -Eq 'topos-pchat +6.0.9319 +running +$service_pid'" \
  || fail "hosts show does not list topos-pchat running as pid $service_pid: $("$ctl_bin" hosts show "$host")"
kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
https /healthz | grep -q ok || fail "service died with the agent"

"$agent_bin" run --state-dir "$work/agent" --heartbeat 1s --service-manager supervisor > "$work/agent2.log" 2>&1 &
pids+=($!)
eventually grep -q "adopted running service topos-pchat (pid $service_pid)" "$work/agent2.log" \
  || fail "restarted agent did not adopt pid $service_pid"
"$ctl_bin" deploy --host "$host" --step-timeout 60s > "$work/deploy3.log" || fail "deploy after restart"
grep -q "already running (pid $service_pid)" "$work/deploy3.log" || fail "service was restarted: $(cat "$work/deploy3.log")"

# One service, one step: stop, start, rollback (none to go back to), uninstall.
"$ctl_bin" service stop topos-pchat --host "$host" > "$work/stop.log" || fail "service stop: $(cat "$work/stop.log")"
grep -q "changed: topos-pchat stopped" "$work/stop.log" || fail "stop changed nothing: $(cat "$work/stop.log")"
https /healthz > /dev/null 2>&1 && fail "service still answers after stop"
"$ctl_bin" service start topos-pchat --host "$host" > "$work/start.log" || fail "service start: $(cat "$work/start.log")"
https /healthz | grep -q ok || fail "service does not answer after start"
pids+=($(sed -n 's/.*running (pid \([0-9]*\)).*/\1/p' "$work/start.log" | head -1))
"$ctl_bin" service rollback topos-pchat --host "$host" > "$work/rollback.log" 2>&1 \
  && fail "rollback without a previous version succeeded"
grep -q "no previous version to roll back to" "$work/rollback.log" || fail "rollback: $(cat "$work/rollback.log")"
"$ctl_bin" service start no-such-service --host "$host" 2> "$work/start-unknown.log" \
  && fail "starting an unknown service succeeded"
grep -q 'service "no-such-service" does not run on' "$work/start-unknown.log" \
  || fail "unknown service: $(cat "$work/start-unknown.log")"
"$ctl_bin" service uninstall topos-pchat --host "$host" > "$work/uninstall.log" || fail "uninstall"
[ ! -e "$work/agent/services/topos-pchat" ] || fail "uninstall left the service directory"
https /healthz > /dev/null 2>&1 && fail "service still answers after uninstall"
echo "PASS"
