# Shared by the end-to-end scripts: a scratch directory, background processes
# stopped on exit, failure reports with the logs, and a bounded wait.
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

# Runs a command until it succeeds, for up to ~15 s.
eventually() {
  for _ in $(seq 1 75); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

# Starts a controller on a free-ish loopback port in $work/ctl and points
# toposctl at it (TOPOS_CONTROLLER, TOPOS_CREDS); sets $port and
# $controller_pid.
start_controller() {
  local controller_bin=$1 ctl_bin=$2
  port=$(( 20000 + RANDOM % 20000 ))
  "$controller_bin" init --data-dir "$work/ctl" --name controller.topos.test \
    --listen "127.0.0.1:$port" > "$work/init.log"
  "$controller_bin" run --data-dir "$work/ctl" > "$work/controller.log" 2>&1 &
  controller_pid=$!
  pids+=($controller_pid)
  export TOPOS_CONTROLLER="127.0.0.1:$port" TOPOS_CREDS="$work/ctl/admin"
  eventually "$ctl_bin" hosts || fail "controller did not come up"
}

# Kills (SIGKILL) every process whose working directory is under DIR: the
# services and hooks agents started there, which outlive their agent by
# design. Stop the agents first so none is started again.
kill_processes_under() {
  local dir proc cwd
  dir=$(cd "$1" && pwd -P) || return 0
  for proc in /proc/[0-9]*; do
    cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
    case "$cwd" in
      "$dir"|"$dir"/*) kill -9 "${proc#/proc/}" 2>/dev/null || true ;;
    esac
  done
}
