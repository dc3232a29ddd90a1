#!/usr/bin/env bash
# Builds the test-host base images (Debian with systemd as PID 1) from Debian's mirror
# with debootstrap and imports them as local/debian-systemd:<suite>.
# The rootfs tarball is cached under $GW_CACHE/images, keyed by a hash of this recipe;
# nothing is rebuilt while the recipe is unchanged.
source "$(dirname "$0")/lib.sh"

SUITES=("${@:-bookworm trixie}")
# shellcheck disable=SC2206
SUITES=(${SUITES[*]})
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,procps,ca-certificates,gnupg,curl,less"
RECIPE_HASH=$( (cat "$0"; echo "$PACKAGES") | sha256sum | cut -c1-12)
MIRROR=$(debian_mirror)
mkdir -p "$GW_CACHE/images"

build_one() {
  local suite=$1 tarball="$GW_CACHE/images/debian-systemd-$1-$RECIPE_HASH.tar"
  local image="local/debian-systemd:$suite"
  if docker image inspect "$image" >/dev/null 2>&1 && \
     [ "$(docker image inspect -f '{{index .Config.Labels "groundwork.recipe"}}' "$image" 2>/dev/null)" = "$RECIPE_HASH" ]; then
    log "image $image is current ($RECIPE_HASH)"; return
  fi
  if [ ! -s "$tarball" ]; then
    local root; root=$(mktemp -d "$GW_CACHE/images/rootfs-$suite.XXXX")
    log "debootstrap $suite from $MIRROR (through the apt cache)"
    http_proxy="http://127.0.0.1:$APT_PROXY_PORT" debootstrap --variant=minbase \
      --include="$PACKAGES" "$suite" "$root" "$MIRROR" >"$GW_CACHE/images/debootstrap-$suite.log" 2>&1 \
      || { tail -n 30 "$GW_CACHE/images/debootstrap-$suite.log"; die "debootstrap $suite failed"; }
    # Updates and security suites so that test hosts see the same versions as real VMs.
    cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb ${MIRROR%/debian}/debian-security $suite-security main
SRC
    # A container has no console, no udev and no kernel modules to load.
    for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-modules-load.service \
                systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount; do
      ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
    echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90no-recommends"
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
    : >"$root/etc/machine-id"
    tar -C "$root" -c . >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    find "$GW_CACHE/images" -name "debian-systemd-$suite-*.tar" ! -name "$(basename "$tarball")" -delete
  fi
  log "importing $image"
  docker import -c 'CMD ["/lib/systemd/systemd"]' \
    -c "LABEL groundwork.recipe=$RECIPE_HASH" "$tarball" "$image" >/dev/null
}

for s in "${SUITES[@]}"; do build_one "$s"; done
