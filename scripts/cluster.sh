#!/usr/bin/env bash
# A clonefleet cluster on this machine for tests and demos (as root): PostgreSQL and N hosts, each
# engine in its own network namespace on a bridge, addresses in 198.18.0.0/15, one shared
# datastore and one of each host's own. Needs a build (npm run build) and scripts/setup.sh.
#
#   bash scripts/cluster.sh up [--hosts 3] [--dir /tmp/clonefleet-cluster]   # prints cluster.json
#   bash scripts/cluster.sh down [--dir /tmp/clonefleet-cluster]
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="${1:-}"
shift || true
dir=/tmp/clonefleet-cluster
hosts=3
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --hosts) hosts="$2"; shift 2 ;;
    *) echo "cluster.sh: unknown option $1 (use --hosts N, --dir DIR)" >&2; exit 2 ;;
  esac
done
pidfile="${dir}.pid"
case "$cmd" in
  up)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "cluster.sh: a cluster runs already (pid $(cat "$pidfile")); bash scripts/cluster.sh down --dir $dir" >&2
      exit 1
    fi
    [ -f dist/scripts/cluster/main.js ] || { echo "cluster.sh: run npm run build first" >&2; exit 1; }
    mkdir -p "$dir"
    nohup node dist/scripts/cluster/main.js up --hosts "$hosts" --dir "$dir" >"${dir}.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 1200); do
      if [ -f "$dir/cluster.json" ]; then cat "$dir/cluster.json"; exit 0; fi
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then cat "${dir}.log" >&2; rm -f "$pidfile"; exit 1; fi
      sleep 0.1
    done
    echo "cluster.sh: the cluster did not come up within 120 s; see ${dir}.log" >&2
    exit 1
    ;;
  down)
    [ -f "$pidfile" ] || { echo "cluster.sh: no cluster recorded at $pidfile" >&2; exit 1; }
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"
    tail -n 2 "${dir}.log"
    ;;
  *)
    echo "usage: bash scripts/cluster.sh up|down [--hosts N] [--dir DIR]" >&2
    exit 2
    ;;
esac
