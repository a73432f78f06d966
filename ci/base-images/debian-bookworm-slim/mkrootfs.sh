#!/usr/bin/env bash
# Build a minimal Debian bookworm root filesystem (stand-in for the official
# debian:bookworm-slim rootfs) and import it as a Docker image.
# Usage: mkrootfs.sh IMAGE_TAG   (run as root; needs debootstrap)
set -euo pipefail
tag=${1:?usage: mkrootfs.sh IMAGE_TAG}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
here=$(cd "$(dirname "$0")" && pwd)

command -v debootstrap >/dev/null || { echo "mkrootfs: debootstrap not installed (apt-get install -y debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "mkrootfs: must run as root (debootstrap)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; echo "mkrootfs: debootstrap failed" >&2; exit 1; }

# apt sources like the official image (deb822), plain http: no ca-certificates needed.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

# The docker-specific apt/dpkg tweaks of the official image (debuerreotype).
cp "$here"/apt.conf.d/* "$rootfs/etc/apt/apt.conf.d/"
cp "$here"/dpkg.cfg.d/* "$rootfs/etc/dpkg/dpkg.cfg.d/"
cat >"$rootfs/usr/sbin/policy-rc.d" <<'SH'
#!/bin/sh
exit 101
SH
chmod +x "$rootfs/usr/sbin/policy-rc.d"

# Slim it like the official -slim variant.
rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
: >"$rootfs/etc/machine-id" 2>/dev/null || true

tar --numeric-owner -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV LANG=C.UTF-8' \
  -c 'CMD ["bash"]' \
  -m "stand-in for $tag (debootstrap --variant=minbase bookworm $mirror)" \
  - "$tag" >/dev/null
