#!/usr/bin/env bash
# Installs and starts what the test hosts need on this machine: the Docker engine,
# debootstrap and apt-cacher-ng (the apt cache the test hosts use). Idempotent.
source "$(dirname "$0")/lib.sh"

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/sbin/apt-cacher-ng ] || need+=(apt-cacher-ng)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o Acquire::Retries=2 || true
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# apt-cacher-ng maps Debian URLs onto its backends list (ftp.debian.org by default, which
# this network does not reach): point it at the mirror this machine's own apt uses.
mirror="$(debian_mirror)/"
conf_changed=0
if [ "$(cat /etc/apt-cacher-ng/backends_debian 2>/dev/null)" != "$mirror" ]; then
  echo "$mirror" >/etc/apt-cacher-ng/backends_debian; conf_changed=1
fi
if [ ! -f /etc/apt-cacher-ng/zzz_groundwork.conf ]; then
  printf 'ConnectProto: v4\nBindAddress: 0.0.0.0\nPort: %s\n' "$APT_PROXY_PORT" >/etc/apt-cacher-ng/zzz_groundwork.conf; conf_changed=1
fi
if [ "$conf_changed" = 1 ] && pgrep -x apt-cacher-ng >/dev/null; then
  pkill -x apt-cacher-ng; for _ in $(seq 1 50); do pgrep -x apt-cacher-ng >/dev/null || break; sleep 0.2; done
fi
if ! pgrep -x apt-cacher-ng >/dev/null; then
  log "starting apt-cacher-ng on :$APT_PROXY_PORT"
  mkdir -p /var/cache/apt-cacher-ng /var/log/apt-cacher-ng /run/apt-cacher-ng
  chown -R apt-cacher-ng: /var/cache/apt-cacher-ng /var/log/apt-cacher-ng /run/apt-cacher-ng 2>/dev/null || true
  /usr/sbin/apt-cacher-ng -c /etc/apt-cacher-ng ForeGround=0 >/var/log/acng.log 2>&1 || die "apt-cacher-ng did not start"
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  # its own session: a job-control shell that ends (a CI step, an agent's job) must not take it along
  setsid nohup /usr/sbin/dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "dockerd did not answer within 60 s (see /var/log/dockerd.log)"
fi
for _ in $(seq 1 20); do
  (exec 3<>/dev/tcp/127.0.0.1/"$APT_PROXY_PORT") 2>/dev/null && break; sleep 0.5
done
log "engine ready: docker $(docker version -f '{{.Server.Version}}'), apt cache on :$APT_PROXY_PORT"
