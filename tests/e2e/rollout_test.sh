#!/usr/bin/env bash
# End to end with the real binaries: a rollout of a tiny service to three
# agents, one host at a time, survives `kill -9` of the controller in the
# middle of it. The `rollout start --wait` that follows it reconnects to the
# restarted controller and exits 0; every host succeeded; each agent ran
# each step id once (one counter line per host from the slow install hook,
# one journal entry per step id, all succeeded); the stored events show
# every host started and succeeded once. Then the bad cases: an unknown id,
# pausing a finished rollout, and starting with nothing to roll out.
set -euo pipefail
controller_bin=$1 agent_bin=$2 ctl_bin=$3 protoc_bin=$4 proto_dir=$5

source "$(dirname "$0")/lib.sh"
# The service's processes outlive their agents by design: stop the agents
# first, then whatever still runs in the test's directory, on any exit.
stop_everything() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  kill_processes_under "$work"
  cleanup
}
trap stop_everything EXIT

ctl() { "$ctl_bin" "$@"; }
hosts=(app01.rollout.test app02.rollout.test app03.rollout.test)
mkdir -p "$work/counters" "$work/artifact/bin"

# One pool of three hosts running "tiny": its install hook takes 2 s and
# leaves one line in the host's counter file each time it runs.
cat > "$work/roles.yaml" <<'EOF'
roles:
  - name: app
    description: A tiny test application.
EOF
cat > "$work/topology.yaml" <<EOF
sites:
  - name: lab
hosts:
$(for h in "${hosts[@]}"; do echo "  - fqdn: $h"; done)
pools:
  - name: app
    fqdn: apppool.rollout.test
    role: app
    site: lab
    hosts: [${hosts[0]}, ${hosts[1]}, ${hosts[2]}]
services:
  - name: tiny
    role: app
    version: "1.0"
    artifact: tiny-1.0.tar.gz
    install_hook:
      argv: [/bin/sh, -c, 'sleep 2; echo ran >> $work/counters/\$TOPOS_HOST_FQDN']
      timeout_seconds: 30
    start:
      argv: [sleep, "300"]
    restart:
      policy: never
EOF
echo "tiny" > "$work/artifact/bin/README"
tar -czf "$work/tiny-1.0.tar.gz" -C "$work/artifact" bin

start_controller "$controller_bin" "$ctl_bin"
ctl topology publish --roles "$work/roles.yaml" -m e2e "$work/topology.yaml" > "$work/publish.log" 2>&1 \
  || fail "publish: $(cat "$work/publish.log")"
ctl artifact push "$work/tiny-1.0.tar.gz" --service tiny --version 1.0 > "$work/push.log" || fail "push"
for i in 0 1 2; do
  command=$(ctl token create --host "${hosts[$i]}" --state-dir "$work/agent$i" --output command)
  read -r -a argv <<< "$command"
  "$agent_bin" run "${argv[@]:2}" --heartbeat 1s --service-manager supervisor > "$work/agent$i.log" 2>&1 &
  pids+=($!)
done
eventually bash -c "[ \$('$ctl_bin' hosts --output json | grep -c '\"status\": \"online\"') = 3 ]" \
  || fail "agents not online: $(ctl hosts)"

# Python reads the JSON the CLI prints: status_json ID → $work/status.json.
status_json() { ctl rollout status "$1" --output json > "$work/status.json"; }
ctl rollout start --max-unavailable 1 --step-timeout 60s --wait > "$work/watch.log" 2> "$work/watch.err" &
watch_pid=$!
pids+=($watch_pid)
eventually bash -c "'$ctl_bin' rollout list --output json | grep -q '\"id\": \"r-'" || fail "no rollout started"
id=$(ctl rollout list --output json | sed -n 's/.*"id": "\(r-[0-9a-f]*\)".*/\1/p' | head -1)
[ -n "$id" ] || fail "no rollout id in: $(ctl rollout list --output json)"

# Kill the controller once the first host succeeded and the second is
# inside its 2 s install hook: that step is still running on the agent
# while no controller is there, and is sent again after the restart. One
# Python process polls (starting one per poll takes most of the window on
# a loaded machine).
python3 - "$ctl_bin" "$id" > "$work/phases.log" 2>&1 <<'EOF' \
  || fail "never saw one host succeeded and one running: $(tail -1 "$work/phases.log"); $(ctl rollout status "$id")"
import json, subprocess, sys, time
ctl, rollout_id = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    status = subprocess.run([ctl, "rollout", "status", rollout_id, "--output", "json"],
                            capture_output=True, text=True)
    if status.returncode == 0:
        rollout = json.loads(status.stdout)["rollout"]
        # Phases in rollout order, with the step of running hosts.
        phases = " ".join(h.get("phase", "") + (":" + h.get("current_step", "").split(" ")[0]
                                                if h.get("phase") == "running" else "")
                          for p in rollout["pools"] for h in p["hosts"])
        print(phases, flush=True)
        if phases == "succeeded running:install_service waiting":
            sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
EOF
kill -9 "$controller_pid"
wait "$controller_pid" 2>/dev/null || true
"$controller_bin" run --data-dir "$work/ctl" > "$work/controller2.log" 2>&1 &
pids+=($!)
# Not on a terminal, the watch writes each event as it happens (it is still
# following the rollout here: two hosts are left).
eventually bash -c "kill -0 $watch_pid && grep -q '^[0-9:]*  ${hosts[1]}  host-started' '$work/watch.log'" \
  || fail "rollout start --wait wrote no progress while it ran: $(cat "$work/watch.log")"

# The watch reconnects and follows the rollout to its end.
watch_rc=0
for _ in $(seq 1 300); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$watch_pid" 2>/dev/null && fail "rollout start --wait still running 30 s after the restart"
wait "$watch_pid" || watch_rc=$?
[ "$watch_rc" = 0 ] || fail "rollout start --wait exited $watch_rc: $(cat "$work/watch.log" "$work/watch.err")"
grep -q "rollout $id succeeded: 3 of 3 hosts finished" "$work/watch.log" \
  || fail "watch did not end on success: $(cat "$work/watch.log")"
grep -q "reconnecting" "$work/watch.log" || fail "watch never lost the controller: $(cat "$work/watch.log")"
for h in "${hosts[@]}"; do
  [ "$(grep -c "  $h  host-succeeded" "$work/watch.log")" = 1 ] \
    || fail "watch did not show $h succeed exactly once: $(cat "$work/watch.log")"
done

status_json "$id" || fail "status after restart"
python3 - "$work/status.json" "$id" "${hosts[@]}" <<'EOF' || fail "status: $(cat "$work/status.json")"
import collections, json, sys
status, rollout_id, hosts = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3:]
rollout = status["rollout"]
assert rollout["id"] == rollout_id and rollout["state"] == "succeeded" and rollout.get("done"), rollout
phases = {h["host_fqdn"]: h["phase"] for p in rollout["pools"] for h in p["hosts"]}
assert phases == {h: "succeeded" for h in hosts}, phases
events = status["events"]
seqs = [int(e["seq"]) for e in events]
assert seqs == list(range(1, len(seqs) + 1)), f"event seqs not 1..n: {seqs}"
kinds = collections.Counter((e.get("host_fqdn", ""), e["kind"]) for e in events)
assert kinds[("", "rollout-started")] == 1, kinds
for host in hosts:
    assert kinds[(host, "host-started")] == 1, (host, kinds)
    assert kinds[(host, "host-succeeded")] == 1, (host, kinds)
    assert kinds[(host, "host-failed")] == 0, (host, kinds)
# Every step of every host succeeded once and none failed: steps resent after
# the restart are answered from the agent's journal and not logged twice (the
# journals below prove each also ran once). The host cut off mid-rollout says
# it was resumed.
steps = collections.Counter((e["host_fqdn"], e.get("step_kind"))
                            for e in events if e["kind"] == "step-succeeded")
for host in hosts:
    for kind in ("SETUP_LOCAL_STORE", "CHECK_PREREQUISITES", "INSTALL_SERVICE", "START_SERVICE"):
        assert steps[(host, kind)] == 1, (host, kind, steps)
assert kinds[(hosts[1], "host-resumed")] == 1, kinds
assert not [e for e in events if e["kind"] in ("step-failed", "step-cancelled")], events
EOF

# Each host ran its install hook once, and each agent journaled each step id
# of the rollout once (one file per id), succeeded, all under one host index.
for i in 0 1 2; do
  h=${hosts[$i]}
  [ "$(wc -l < "$work/counters/$h")" = 1 ] || fail "$h ran the install hook $(wc -l < "$work/counters/$h") times"
  journal=$work/agent$i/store/journal
  shopt -s nullglob
  entries=("$journal/$id"-*.pb)
  shopt -u nullglob
  [ "${#entries[@]}" = 4 ] || fail "$h journaled ${#entries[@]} steps of $id, not 4: $(ls "$journal")"
  prefixes=$(for f in "${entries[@]}"; do basename "$f" | sed 's/-[0-9]*\.pb$//'; done | sort -u)
  [ "$(echo "$prefixes" | wc -l)" = 1 ] || fail "$h got steps under more than one host index: $prefixes"
  for f in "${entries[@]}"; do
    decoded=$("$protoc_bin" -I "$proto_dir" --decode=topos.v1.JournalEntry topos/v1/agent_journal.proto < "$f") \
      || fail "cannot decode $f"
    step_id=$(basename "$f" .pb)
    grep -q "step_id: \"$step_id\"" <<< "$decoded" || fail "$f holds another step: $decoded"
    [ "$(grep -c '^state: STEP_SUCCEEDED$' <<< "$decoded")" = 1 ] || fail "$h step $step_id: $decoded"
  done
done

# Bad cases.
ctl rollout status r-000000000000 > "$work/unknown.log" 2>&1 && fail "status of an unknown rollout succeeded"
grep -qi "not found" "$work/unknown.log" || fail "unknown rollout: $(cat "$work/unknown.log")"
ctl rollout pause "$id" > "$work/pause.log" 2>&1 && fail "pausing a finished rollout succeeded"
grep -q "cannot pause a rollout that is succeeded" "$work/pause.log" || fail "pause does not say why: $(cat "$work/pause.log")"
# Hosts report the service from their next heartbeat; then nothing is left to do.
eventually bash -c "'$ctl_bin' rollout plan | grep -q '^Plan for topology version 1: 0 of 3 hosts change, 3 converged'" \
  || fail "not converged: $(ctl rollout plan)"
ctl rollout start > "$work/converged.log" 2>&1 && fail "rollout start with nothing to do succeeded"
grep -q "nothing to roll out" "$work/converged.log" || fail "converged start: $(cat "$work/converged.log")"
[ "$(ctl rollout list --output json | grep -c '"id": "r-')" = 1 ] || fail "a second rollout was stored"
echo "PASS"
