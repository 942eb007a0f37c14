#!/usr/bin/env bash
# End to end with the real binaries: a CA rotation across five agents while
# a client keeps making TLS requests to the example service, none of which
# may fail.
#
# The client is what a client on the fleet does: it trusts the bundle the
# agent keeps in its local store (trust/ca-bundle.pem), re-read for every
# request. The rotation must move every piece in an order that never breaks
# it: both CAs trusted first, then every leaf reissued (the service reloads
# on SIGHUP without closing its listener), then the old CA dropped.
set -euo pipefail
controller_bin=$1 agent_bin=$2 ctl_bin=$3 examples=$4 artifact=$5

source "$(dirname "$0")/lib.sh"
stop_everything() {
  [ -n "${client_pid:-}" ] && kill "$client_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  kill_processes_under "$work"
  cleanup
}
trap stop_everything EXIT

ctl() { "$ctl_bin" "$@"; }
service_host=chat01.contoso.test
hosts=(fe01.contoso.test fe02.contoso.test chat01.contoso.test chat02.contoso.test sql01.contoso.test)
service_port=$(( 40000 + RANDOM % 20000 ))
sed "s/5041/$service_port/g" "$examples/pchat/topology.yaml" > "$work/topology.yaml"

start_controller "$controller_bin" "$ctl_bin"
ctl topology publish --roles "$examples/pchat/roles.yaml" -m e2e "$work/topology.yaml" > /dev/null
for host in "${hosts[@]}"; do
  command=$(ctl token create --host "$host" --state-dir "$work/agents/$host" --output command)
  read -r -a argv <<< "$command"
  "$agent_bin" run "${argv[@]:2}" --heartbeat 1s --service-manager supervisor \
    > "$work/agent-$host.log" 2>&1 &
  pids+=($!)
done
online() { [ "$(ctl hosts --output json | grep -c '"status": "online"')" -eq 5 ]; }
eventually online || fail "not all five agents came online"

ctl artifact push "$artifact" --service topos-pchat --version 6.0.9319 > /dev/null || fail "push"
ctl deploy --host "$service_host" --step-timeout 60s > "$work/deploy.log" || fail "deploy: $(cat "$work/deploy.log")"
pids+=($(sed -n 's/.*running (pid \([0-9]*\)).*/\1/p' "$work/deploy.log" | head -1))

bundle="$work/agents/$service_host/store/trust/ca-bundle.pem"
eventually test -s "$bundle" || fail "the agent holds no trust bundle in its local store"
old_ca=$(openssl x509 -in "$work/ctl/ca/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)

# The client: one verified request every 50 ms, each failure logged.
(
  while :; do
    if curl -sS --max-time 5 --cacert "$bundle" --resolve "$service_host:$service_port:127.0.0.1" \
         "https://$service_host:$service_port/healthz" > /dev/null 2>> "$work/client-errors.log"; then
      echo ok >> "$work/client-ok.log"
    else
      echo "failed at $(date +%T.%N)" >> "$work/client-failures.log"
    fi
    sleep 0.05
  done
) &
client_pid=$!
eventually test -s "$work/client-ok.log" || fail "the client never reached the service"

ctl ca rotate --batch-size 2 --wait > "$work/rotate.log" 2>&1 || fail "ca rotate: $(cat "$work/rotate.log")"
sleep 1  # a few more requests after the old CA is gone
kill "$client_pid"; wait "$client_pid" 2>/dev/null || true; client_pid=

requests=$(wc -l < "$work/client-ok.log")
if [ -s "$work/client-failures.log" ]; then
  fail "$(wc -l < "$work/client-failures.log") of $requests client requests failed during the rotation: $(head -5 "$work/client-errors.log")"
fi
[ "$requests" -ge 20 ] || fail "only $requests client requests ran during the rotation"

# Three visible phases, in order.
for phase in trust reissue retire; do
  grep -qi "phase.*$phase" "$work/rotate.log" || fail "rotate --wait did not show phase $phase: $(cat "$work/rotate.log")"
done
ctl ca status > "$work/status.log" || fail "ca status"
grep -q "succeeded" "$work/status.log" || fail "rotation not succeeded: $(cat "$work/status.log")"

# Everything now chains to the new CA and only to it.
new_ca=$(openssl x509 -in "$work/ctl/ca/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
[ "$new_ca" != "$old_ca" ] || fail "the signing CA did not change"
[ "$(grep -c 'BEGIN CERTIFICATE' "$bundle")" -eq 1 ] || fail "the old CA is still in the agent's bundle"
for host in "${hosts[@]}"; do
  openssl verify -CAfile "$work/ctl/ca/ca.pem" "$work/agents/$host/identity/cert.pem" > /dev/null \
    || fail "$host's identity does not chain to the new CA"
done
openssl verify -CAfile "$work/ctl/ca/ca.pem" "$work/agents/$service_host/services/topos-pchat/tls/cert.pem" \
  > /dev/null || fail "the service certificate does not chain to the new CA"
served=$(openssl s_client -connect "127.0.0.1:$service_port" -servername "$service_host" </dev/null 2>/dev/null \
  | openssl x509 -noout -issuer)
echo "$served" | grep -q "$(openssl x509 -in "$work/ctl/ca/ca.pem" -noout -subject | sed 's/^subject=//')" \
  || fail "the service still serves a certificate from the old CA: $served"
online || fail "agents are not all online after the rotation"
ctl hosts > /dev/null || fail "toposctl cannot talk to the controller after the rotation"
echo "PASS ($requests requests, none failed)"
