#!/usr/bin/env bash
# End-to-end: init a controller, create a token, enroll and run an agent with
# the printed command, and check `toposctl hosts --output json` lists it
# online. Then the bad cases a user meets first: a reused token, a wrong pin,
# no credentials, and a removed host that is cut off.
set -euo pipefail
controller_bin=$1 agent_bin=$2 ctl_bin=$3

source "$(dirname "$0")/lib.sh"

port=$(( 20000 + RANDOM % 20000 ))
"$controller_bin" init --data-dir "$work/ctl" --name controller.topos.test \
  --listen "127.0.0.1:$port" > "$work/init.log"
[ "$(stat -c %a "$work/ctl/ca/ca.key")" = 600 ] || fail "CA key is not 0600"
"$controller_bin" init --data-dir "$work/ctl" --name controller.topos.test 2> "$work/reinit.log" \
  && fail "init overwrote an existing data dir"
grep -q "refusing to overwrite" "$work/reinit.log" || fail "init refusal does not say why"

"$controller_bin" run --data-dir "$work/ctl" > "$work/controller.log" 2>&1 &
pids+=($!)
export TOPOS_CONTROLLER="127.0.0.1:$port" TOPOS_CREDS="$work/ctl/admin"
eventually "$ctl_bin" hosts || fail "controller did not come up"
# Its memory per connected agent depends on running on mimalloc, not on
# glibc's malloc (controller/memory_allocator.h): a link that loses it shows.
grep -q "info \[controller\] memory allocator: mimalloc [0-9.]*$" "$work/controller.log" \
  || fail "controller does not run on mimalloc: $(grep 'memory allocator' "$work/controller.log")"

# The printed one-line command, run as printed.
command=$("$ctl_bin" token create --host web01.topos.test --ttl 10m \
  --state-dir "$work/agent" --output command)
read -r -a argv <<< "$command"
[ "${argv[0]}" = topos-agent ] && [ "${argv[1]}" = enroll ] || fail "unexpected command: $command"
"$agent_bin" "${argv[@]:1}" > "$work/enroll.log" 2>&1 || fail "enroll failed"
[ "$(stat -c %a "$work/agent/identity/key.pem")" = 600 ] || fail "agent key is not 0600"

# The same token again: refused, and says so.
token1=$(sed -n 's/.*--token \([^ ]*\).*/\1/p' <<< "$command")
pin=$(sed -n 's/.*--ca-sha256 \([^ ]*\).*/\1/p' <<< "$command")
"$agent_bin" enroll --controller "127.0.0.1:$port" --token "$token1" --ca-sha256 "$pin" \
  --host web01.topos.test --state-dir "$work/agent2" 2> "$work/reuse.log" && fail "token reused"
grep -q "already used" "$work/reuse.log" || fail "reused token not refused clearly"

"$agent_bin" run --state-dir "$work/agent" --heartbeat 1s > "$work/agent.log" 2>&1 &
pids+=($!)
eventually bash -c "'$ctl_bin' hosts --output json | grep -q '\"status\": \"online\"'" \
  || fail "host never showed online"
json=$("$ctl_bin" hosts --output json)
echo "$json" | grep -q '"fqdn": "web01.topos.test"' || fail "host missing from json: $json"
"$ctl_bin" hosts | grep -q "web01.topos.test  *online" || fail "table does not show online"
"$ctl_bin" hosts show web01.topos.test | grep -q "agent version" || fail "hosts show"

# A wrong CA pin aborts before anything is sent.
token2=$("$ctl_bin" token create --host web02.topos.test --output json | grep '"token"' | cut -d'"' -f4)
"$agent_bin" enroll --controller "127.0.0.1:$port" --token "$token2" --ca-sha256 "$(printf '0%.0s' {1..64})" \
  --host web02.topos.test --state-dir "$work/agent3" 2> "$work/pin.log" && fail "wrong pin accepted"
grep -q "CA fingerprint mismatch" "$work/pin.log" || fail "pin mismatch not explained"

# No credentials: a clear message, not a crash.
TOPOS_CREDS= "$ctl_bin" hosts 2> "$work/nocreds.log" && fail "hosts without credentials succeeded"
grep -q "no operator credentials" "$work/nocreds.log" || fail "missing-credentials message"

# Removing the host cuts its stream; the agent exits and says why.
"$ctl_bin" hosts remove web01.topos.test > /dev/null
agent_pid=${pids[1]}
for _ in $(seq 1 75); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$agent_pid" 2>/dev/null && fail "removed agent still running"
grep -q "new enrollment" "$work/agent.log" || fail "agent did not explain the refusal"
"$ctl_bin" hosts --output json | grep -q '"status": "removed"' || fail "host not shown removed"
echo "e2e: all checks passed"
