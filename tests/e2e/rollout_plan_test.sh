#!/usr/bin/env bash
# End to end with the real binaries: `toposctl rollout plan` against one
# agent. Before a deploy the plan lists the whole chain for the enrolled host
# and "not enrolled" for the others; after it the host is converged; a
# stopped service plans a start; a new version plans install and restart.
# The plan itself never changes anything.
set -euo pipefail
controller_bin=$1 agent_bin=$2 ctl_bin=$3 examples=$4 artifact=$5

source "$(dirname "$0")/lib.sh"
host=chat01.contoso.test
service_port=$(( 40000 + RANDOM % 20000 ))
# The example topology with a port of our own, so parallel runs do not collide.
sed "s/5041/$service_port/g" "$examples/pchat/topology.yaml" > "$work/topology.yaml"

start_controller "$controller_bin" "$ctl_bin"
plan() { "$ctl_bin" rollout plan "$@"; }

# Nothing published yet: the plan says what to do first.
plan 2> "$work/plan-unpublished.log" && fail "plan without a topology succeeded"
grep -q "toposctl topology publish" "$work/plan-unpublished.log" \
  || fail "no hint to publish: $(cat "$work/plan-unpublished.log")"
plan --output yaml 2> /dev/null && fail "plan accepted --output yaml"

"$ctl_bin" topology publish --roles "$examples/pchat/roles.yaml" -m e2e "$work/topology.yaml" > /dev/null
command=$("$ctl_bin" token create --host "$host" --state-dir "$work/agent" --output command)
read -r -a argv <<< "$command"
"$agent_bin" run "${argv[@]:2}" --heartbeat 1s --service-manager supervisor > "$work/agent.log" 2>&1 &
pids+=($!)
eventually bash -c "'$ctl_bin' hosts --output json | grep -q '\"status\": \"online\"'" || fail "agent not online"

# Before the artifact is pushed the host's plan is the error a deploy would give.
plan > "$work/plan-no-artifact.log" || fail "plan: $(cat "$work/plan-no-artifact.log")"
grep -q "^$host (online): error: .*toposctl artifact push" "$work/plan-no-artifact.log" \
  || fail "no artifact error for $host: $(cat "$work/plan-no-artifact.log")"
"$ctl_bin" artifact push "$artifact" --service topos-pchat --version 6.0.9319 > "$work/push.log" || fail "push"

plan > "$work/plan-before.log" || fail "plan before deploy"
for expected in \
  "^$host (online): [0-9]* changes$" \
  "^  + check_prerequisites topos-pchat: before installing topos-pchat 6.0.9319$" \
  "^  + install_service topos-pchat: install topos-pchat 6.0.9319 (not installed)$" \
  "^  + request_certificate topos-pchat: request a certificate for topos-pchat: none assigned$" \
  "^  + assign_certificate topos-pchat: " \
  "^  + start_service topos-pchat: start topos-pchat 6.0.9319: new version and certificate$" \
  "^fe01.contoso.test (not enrolled): error: not enrolled: create a token" \
  "^sql01.contoso.test (not enrolled): error: not enrolled: create a token" \
  "^Plan for topology version 1: 1 of 7 hosts change, 0 converged, 6 with errors. Nothing was changed.$"; do
  grep -q "$expected" "$work/plan-before.log" || fail "plan lacks /$expected/: $(cat "$work/plan-before.log")"
done
plan --output json > "$work/plan-before.json" || fail "plan json"
python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))
assert plan["published_version"] == "1", plan["published_version"]
hosts = {h["host_fqdn"]: h for h in plan["hosts"]}
assert len(hosts) == 7, sorted(hosts)
chat = hosts[sys.argv[2]]
assert not chat["converged"] and chat["status"] == "online", chat
kinds = [c["kind"] for c in chat["changes"] if c["service"] == "topos-pchat"]
assert kinds == ["CHECK_PREREQUISITES", "INSTALL_SERVICE", "REQUEST_CERTIFICATE",
                 "ASSIGN_CERTIFICATE", "START_SERVICE"], kinds
assert hosts["fe01.contoso.test"]["error"].startswith("not enrolled"), hosts["fe01.contoso.test"]
' "$work/plan-before.json" "$host" || fail "json plan: $(cat "$work/plan-before.json")"
[ ! -e "$work/agent/services/topos-pchat" ] || fail "rollout plan installed something"

"$ctl_bin" deploy --host "$host" --step-timeout 60s > "$work/deploy.log" || fail "deploy: $(cat "$work/deploy.log")"
# The plan learns the services from the agent's next heartbeat.
eventually bash -c "'$ctl_bin' rollout plan | grep -qx '$host (online): converged'" \
  || fail "$host not converged after deploy: $(plan)"
plan | grep -q "^Plan for topology version 1: 0 of 7 hosts change, 1 converged, 6 with errors" \
  || fail "summary after deploy: $(plan)"

# A stopped service is planned to start, and only that.
"$ctl_bin" service stop topos-pchat --host "$host" > "$work/stop.log" || fail "service stop: $(cat "$work/stop.log")"
eventually bash -c "'$ctl_bin' rollout plan | grep -qx '  + start_service topos-pchat: start topos-pchat (installed, not running)'" \
  || fail "no start planned after stop: $(plan)"
plan | grep -qx "$host (online): 1 change" || fail "more than a start planned: $(plan)"
"$ctl_bin" service start topos-pchat --host "$host" > "$work/start.log" || fail "service start: $(cat "$work/start.log")"
eventually bash -c "'$ctl_bin' rollout plan | grep -qx '$host (online): converged'" \
  || fail "$host not converged after start: $(plan)"

# A new version: install, and restart even though the service runs now.
sed "s/version: 6.0.9319/version: 6.0.9320/" "$work/topology.yaml" > "$work/topology2.yaml"
"$ctl_bin" topology publish --roles "$examples/pchat/roles.yaml" -m v2 "$work/topology2.yaml" > /dev/null
"$ctl_bin" artifact push "$artifact" --service topos-pchat --version 6.0.9320 > "$work/push2.log" || fail "push 6.0.9320"
expected="$host (online): 3 changes
  + check_prerequisites topos-pchat: before installing topos-pchat 6.0.9320
  + install_service topos-pchat: install topos-pchat 6.0.9320 (host runs 6.0.9319)
  + start_service topos-pchat: restart topos-pchat: new version"
# setup_local_store shows until the agent has applied version 2.
eventually bash -c "'$ctl_bin' rollout plan | grep -A3 '^$host ' | diff - <(printf '%s\n' \"\$0\")" "$expected" \
  || fail "plan for 6.0.9320: $(plan)"

"$ctl_bin" service uninstall topos-pchat --host "$host" > "$work/uninstall.log" || fail "uninstall"
[ ! -e "$work/agent/services/topos-pchat" ] || fail "uninstall left the service directory"
echo "PASS"
