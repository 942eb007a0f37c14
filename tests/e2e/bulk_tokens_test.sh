#!/usr/bin/env bash
# End-to-end: `toposctl token create --count N --host-pattern ...` creates N
# tokens for N distinct hosts, `token list` shows them, the printed enroll
# commands work as printed, and a bad request (a pattern without {n}, a
# pattern giving invalid names, a bad count, a mixture with --host, a TTL the
# controller refuses) fails and creates nothing. A controller that dies
# midway leaves the tokens created so far printed, as valid JSON.
set -euo pipefail
controller_bin=$1 agent_bin=$2 ctl_bin=$3

source "$(dirname "$0")/lib.sh"

start_controller "$controller_bin" "$ctl_bin"
agent_pids=()
list_before=$("$ctl_bin" token list --output json)

# Bad requests: non-zero exit, a message that says why, and no token created.
expect_refused() {  # expect_refused MESSAGE_REGEX ARGS...
  local regex=$1; shift
  if "$ctl_bin" token create "$@" > "$work/bad.out" 2> "$work/bad.err"; then
    fail "token create $* succeeded"
  fi
  grep -Eq -- "$regex" "$work/bad.err" || fail "token create $*: unclear error: $(cat "$work/bad.err")"
  [ ! -s "$work/bad.out" ] || fail "token create $* printed tokens: $(cat "$work/bad.out")"
  [ "$("$ctl_bin" token list --output json)" = "$list_before" ] \
    || fail "token create $* created tokens"
}
expect_refused "has no \{n\}" --count 3 --host-pattern 'sim.bench.test'
expect_refused "bad_1\.\.test.*not a valid host name" --count 3 --host-pattern 'bad_{n}..test'
# Only number 10 is invalid (a label of 64 bytes): still nothing is created.
expect_refused "for n=10" --count 10 --host-pattern "$(printf 'a%.0s' {1..62}){n}.bench.test"
expect_refused "count must be 1\.\.100000, got 0" --count 0 --host-pattern 'sim-{n}.bench.test'
expect_refused "count must be 1\.\.100000" --count 100001 --host-pattern 'sim-{n}.bench.test'
expect_refused "more than once" --count 2 --host-pattern 'sim-{n}-{n}.bench.test'
expect_refused "one or the other" --count 2 --host-pattern 'sim-{n}.bench.test' --host a.bench.test
expect_refused "needs --host-pattern" --count 2
expect_refused "needs --count" --host-pattern 'sim-{n}.bench.test'
expect_refused "no token was created.*TTL" --count 2 --host-pattern 'sim-{n}.bench.test' --ttl 30d

# Five tokens as JSON: five distinct hosts, numbered from --start, zero-padded.
json=$("$ctl_bin" token create --count 5 --host-pattern 'sim-{n:2}.bench.test' --start 8 \
  --ttl 10m --output json)
[ "$(head -1 <<< "$json")" = "[" ] && [ "$(tail -1 <<< "$json")" = "]" ] || fail "not an array: $json"
hosts=$(grep -o '"host": "[^"]*"' <<< "$json" | cut -d'"' -f4)
[ "$(tr '\n' ' ' <<< "$hosts")" = "sim-08.bench.test sim-09.bench.test sim-10.bench.test sim-11.bench.test sim-12.bench.test " ] \
  || fail "unexpected hosts: $hosts"
tokens=$(grep -o '"token": "[^"]*"' <<< "$json" | cut -d'"' -f4)
[ "$(sort -u <<< "$tokens" | wc -l)" = 5 ] || fail "tokens are not 5 distinct: $tokens"
for field in token_id expires_at_unix ca_sha256 controller_address; do
  [ "$(grep -c "\"$field\": " <<< "$json")" = 5 ] || fail "$field missing: $json"
done
list=$("$ctl_bin" token list)
for id in $(grep -o '"token_id": "[^"]*"' <<< "$json" | cut -d'"' -f4); do
  host=$(grep "\"token_id\": \"$id\"" <<< "$json" | grep -o '"host": "[^"]*"' | cut -d'"' -f4)
  grep -Eq "^$id +$host +unused" <<< "$list" || fail "token list lacks $id for $host: $list"
done

# The default table: HOST, TOKEN, EXPIRES, one row per host, secrets included.
table=$("$ctl_bin" token create --count 2 --host-pattern 'tab-{n}.bench.test' 2> "$work/table.err")
grep -Eq "^HOST +TOKEN +EXPIRES$" <<< "$table" || fail "table header: $table"
grep -Eq "^tab-1\.bench\.test +[0-9a-f]+\.[0-9a-f]+ +20" <<< "$table" || fail "table row: $table"
[ "$(wc -l <<< "$table")" = 3 ] || fail "table rows: $table"
grep -q "shown only once" "$work/table.err" || fail "table mode lacks the enroll hint"

# The controller dies midway: what was created is printed as a closed JSON
# array, the failure is reported, and every printed token exists.
"$ctl_bin" token create --count 100000 --host-pattern 'load-{n}.bench.test' --output json \
  > "$work/partial.json" 2> "$work/partial.err" &
bulk_pid=$!
eventually bash -c "[ \$(grep -c '\"token\"' '$work/partial.json') -ge 3 ]" \
  || fail "bulk create made no progress"
kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
bulk_status=0
wait "$bulk_pid" || bulk_status=$?
[ "$bulk_status" != 0 ] || fail "bulk create succeeded although the controller died"
created=$(grep -c '"token"' "$work/partial.json")
grep -q "created $created of 100000 tokens" "$work/partial.err" \
  || fail "partial failure not reported with the count ($created): $(cat "$work/partial.err")"
[ "$(tail -1 "$work/partial.json")" = "]" ] || fail "partial JSON is not closed"
"$controller_bin" run --data-dir "$work/ctl" > "$work/controller2.log" 2>&1 &
pids+=($!)
eventually "$ctl_bin" token list || fail "controller did not come back"
list=$("$ctl_bin" token list)
for id in $(grep -o '"token_id": "[^"]*"' "$work/partial.json" | cut -d'"' -f4); do
  grep -q "^$id " <<< "$list" || fail "printed token $id is not in token list"
done

# Commands, one per line with a state directory per host; enroll two as printed.
commands=$("$ctl_bin" token create --count 3 --host-pattern 'node-{n}.bench.test' --ttl 10m \
  --output command --state-dir-pattern "$work/agent-{n}")
[ "$(wc -l <<< "$commands")" = 3 ] || fail "expected 3 commands: $commands"
for n in 1 2; do
  line=$(sed -n "${n}p" <<< "$commands")
  read -r -a argv <<< "$line"
  [ "${argv[0]}" = topos-agent ] && [ "${argv[1]}" = enroll ] || fail "unexpected command: $line"
  grep -q -- "--host node-$n.bench.test --state-dir $work/agent-$n$" <<< "$line" \
    || fail "command $n has the wrong host or state dir: $line"
  "$agent_bin" "${argv[@]:1}" > "$work/enroll-$n.log" 2>&1 || fail "enroll node-$n failed"
  "$agent_bin" run --state-dir "$work/agent-$n" --heartbeat 1s > "$work/agent-$n.log" 2>&1 &
  pids+=($!)
  agent_pids+=($!)
done
for n in 1 2; do
  eventually bash -c "'$ctl_bin' hosts | grep -Eq '^node-$n\.bench\.test +online'" \
    || fail "node-$n never showed online: $("$ctl_bin" hosts)"
done
list=$("$ctl_bin" token list)
grep -Eq "node-1\.bench\.test +used" <<< "$list" || fail "node-1 token not used: $list"
grep -Eq "node-3\.bench\.test +unused" <<< "$list" || fail "node-3 token not unused: $list"
# The agents stop on lib.sh's SIGTERM; a hang there fails the test by timeout.
echo "e2e: all checks passed"
