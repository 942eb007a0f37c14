#!/usr/bin/env bash
# End-to-end with the real binaries: validate topologies offline, publish,
# enroll a host the topology names, watch its local store replicate, publish
# again and diff, export the configuration.
set -euo pipefail
controller_bin=$1 agent_bin=$2 ctl_bin=$3 examples=$4

source "$(dirname "$0")/lib.sh"
roles="$examples/pchat/roles.yaml"

# Offline validation: the examples pass; a broken copy fails with line numbers.
"$ctl_bin" topology validate --roles "$roles" "$examples/pchat/topology.yaml" | grep -q "valid" \
  || fail "example topology does not validate"
"$ctl_bin" topology validate --roles "$roles" "$examples/pchat/standard.yaml" > /dev/null \
  || fail "standard example does not validate"
sed 's/^\(\s*\)file_store:/\1# file_store:/' "$examples/pchat/topology.yaml" > "$work/broken.yaml"
"$ctl_bin" topology validate --roles "$roles" "$work/broken.yaml" 2> "$work/validate.log" \
  && fail "broken topology validated"
grep -Eq "broken.yaml:[0-9]+:[0-9]+: .*rule chat-needs-file-store" "$work/validate.log" \
  || fail "validation error lacks position or rule: $(cat "$work/validate.log")"

start_controller "$controller_bin" "$ctl_bin"

# An invalid topology is refused whole.
"$ctl_bin" topology publish --roles "$roles" "$work/broken.yaml" 2> "$work/publish-bad.log" \
  && fail "broken topology published"
"$ctl_bin" topology history | grep -q "nothing published" || fail "a refused publish left a version"

"$ctl_bin" topology publish --roles "$roles" -m "first cut" "$examples/pchat/topology.yaml" \
  | grep -q "Published topology version 1" || fail "publish v1"

command=$("$ctl_bin" token create --host chat01.contoso.test --state-dir "$work/agent" --output command)
read -r -a argv <<< "$command"
"$agent_bin" run "${argv[@]:2}" --heartbeat 1s > "$work/agent.log" 2>&1 &
pids+=($!)
eventually bash -c "'$ctl_bin' replication status --output json | grep -q '\"up_to_date\": true'" \
  || fail "host never caught up to v1"
"$agent_bin" store show --state-dir "$work/agent" --output summary | grep -q "version.*1" \
  || fail "agent store does not show version 1"
"$ctl_bin" hosts | grep "chat01.contoso.test" | grep -q "chat" || fail "hosts lacks the pool"
"$ctl_bin" hosts | grep "fe01.contoso.test" | grep -q "never enrolled" \
  || fail "hosts does not flag unenrolled hosts"

# A second version reaches the online host; history and diff show it.
{ cat "$examples/pchat/topology.yaml"; printf 'settings:\n  - key: chat.enabled\n    value: "on"\n'; } > "$work/v2.yaml"
"$ctl_bin" topology publish -m "enable chat" "$work/v2.yaml" | grep -q "version 2" || fail "publish v2"
eventually bash -c "'$agent_bin' store show --state-dir '$work/agent' | grep -q '\"key\": \"chat.enabled\"'" \
  || fail "v2 did not reach the agent"
"$ctl_bin" topology history | grep -q "enable chat" || fail "history lacks v2"
"$ctl_bin" topology diff 1 2 | grep -q '^+  - key: chat.enabled' || fail "diff does not show the setting"
"$ctl_bin" topology publish "$work/v2.yaml" | grep -q "Unchanged" || fail "same content published twice"

"$ctl_bin" config export --out "$work/export.json" > /dev/null
[ "$(stat -c %a "$work/export.json")" = 600 ] || fail "export is not 0600"
grep -q '"version": "2"' "$work/export.json" || fail "export lacks version 2"
"$ctl_bin" config import "$work/export.json" 2> "$work/import.log" && fail "import into a used controller"
grep -q "already has topology versions" "$work/import.log" || fail "import refusal not explained"
echo "e2e topology: all checks passed"
