#!/usr/bin/env bash
# Serve the artifact mirror ($GW_CACHE/mirror) over plain HTTP, in the
# background, so that test hosts (containers on docker networks) can download
# from it through their network's gateway address.
#
# Usage: scripts/mirror/serve.sh [start] [HOST:PORT]   (default 0.0.0.0:8480)
#        scripts/mirror/serve.sh stop | status | restart [HOST:PORT]
#        scripts/mirror/serve.sh url                   # base URL for roles
# start is idempotent: a server already running on the same address is left
# alone; one on another address is replaced. Pidfile: $GW_CACHE/mirror-serve.pid
# Environment: GW_MIRROR_ADDR (default address), GW_MIRROR_DIR.
# shellcheck source-path=SCRIPTDIR/.. source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

MIRROR_DIR="${GW_MIRROR_DIR:-$GW_CACHE/mirror}"
PIDFILE="$GW_CACHE/mirror-serve.pid"
ADDRFILE="$GW_CACHE/mirror-serve.addr"
LOGFILE="$GW_CACHE/mirror-serve.log"
DEFAULT_ADDR="${GW_MIRROR_ADDR:-0.0.0.0:8480}"

cmd=start
case "${1:-}" in
  start | stop | status | restart | url) cmd=$1; shift ;;
  -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
ADDR="${1:-$DEFAULT_ADDR}"
HOST="${ADDR%:*}"
PORT="${ADDR##*:}"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ -z "$HOST" ] || [ "$HOST" = "$ADDR" ]; then
  die "address must be HOST:PORT, got '$ADDR'"
fi

# The pid in the pidfile, if that process is still our http.server.
running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'http.server' || return 1
  echo "$pid"
}

probe_host() { if [ "$HOST" = 0.0.0.0 ]; then echo 127.0.0.1; else echo "$HOST"; fi; }

do_stop() {
  local pid i
  if pid=$(running_pid); then
    kill -TERM "$pid"
    for i in $(seq 1 20); do # 10 s
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    log "mirror: stopped server (pid $pid, $(cat "$ADDRFILE" 2>/dev/null))"
  else
    echo "mirror: not running"
  fi
  rm -f "$PIDFILE" "$ADDRFILE"
}

gateways_hint() {
  case "$HOST" in 127.* | localhost) return 0 ;; esac
  command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1 || return 0
  local line
  timeout 10 docker network ls -q --filter driver=bridge |
    xargs -r timeout 10 docker network inspect -f '{{.Name}} {{range .IPAM.Config}}{{.Gateway}} {{end}}' 2>/dev/null |
    while read -r line; do
      # shellcheck disable=SC2086
      set -- $line
      # (a network without a gateway, like docker's default bridge here, is no failure)
      if [ $# -ge 2 ]; then echo "  from docker network $1: http://$2:$PORT/"; fi
    done
    return 0
}

do_start() {
  local pid i py
  [ -f "$MIRROR_DIR/index.json" ] || die "no mirror at $MIRROR_DIR: run scripts/mirror/build.sh first"
  if pid=$(running_pid); then
    if [ "$(cat "$ADDRFILE" 2>/dev/null)" = "$ADDR" ]; then
      echo "mirror: already serving $MIRROR_DIR on http://$ADDR/ (pid $pid)"
      return 0
    fi
    log "mirror: running on $(cat "$ADDRFILE" 2>/dev/null), moving to $ADDR"
    do_stop
  fi
  py=$(command -v python3) || die "python3 is required"
  setsid nohup "$py" -m http.server --bind "$HOST" --directory "$MIRROR_DIR" "$PORT" >>"$LOGFILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  echo "$ADDR" >"$ADDRFILE"
  for i in $(seq 1 20); do # 10 s
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE" "$ADDRFILE"; tail -n 5 "$LOGFILE" >&2; die "mirror: server exited (address in use?)"; }
    curl -fsS --max-time 2 -o /dev/null "http://$(probe_host):$PORT/index.json" 2>/dev/null && break
    [ "$i" != 20 ] || die "mirror: server did not answer on $ADDR within 10s"
    sleep 0.5
  done
  log "mirror: serving $MIRROR_DIR on http://$ADDR/ (pid $pid, log $LOGFILE)"
  gateways_hint
}

do_status() {
  local pid
  if pid=$(running_pid); then
    echo "mirror: serving $MIRROR_DIR on http://$(cat "$ADDRFILE" 2>/dev/null)/ (pid $pid)"
  else
    echo "mirror: not running"
    return 3
  fi
}

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  restart) do_stop; do_start ;;
  status) do_status ;;
  url) echo "http://$(probe_host):$PORT" ;;
esac
