#!/usr/bin/env bash
# Makes a Debian bookworm (minbase) root file system tarball with debootstrap, for the tests that
# build on a real distribution (apt-get, a compiler) with RUN's default network. Kept in a cache
# directory by the mirror's Release date, so reruns on one machine do not bootstrap again.
set -euo pipefail
out=${1:?usage: debian-rootfs.sh OUT.tar}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${BERTH_TEST_CACHE:-/var/cache/berth-test}
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
mkdir -p "$cache"
cached="$cache/debian-bookworm-minbase.tar"
if [ ! -s "$cached" ] || [ -n "$(find "$cached" -mtime +7)" ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar --numeric-owner --xattrs -C "$root" -cf "$cached.tmp" .
  mv -f "$cached.tmp" "$cached"
fi
cp "$cached" "$out"
