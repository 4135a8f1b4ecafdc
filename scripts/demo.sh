#!/usr/bin/env bash
# The README's first command: install what berth needs, make a base image offline, build the
# sample in fixtures/hello and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
# gcc, make and libseccomp-dev build the sandbox helper; slirp4netns is RUN's default network.
need=()
for pkg in busybox-static gcc make libseccomp-dev slirp4netns; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
[ -x node_modules/.bin/node ] && [ -x native/build/berth-sandbox ] || npm ci
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/busybox-rootfs.sh "$tmp/busybox.tar"
./bin/berth import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tmp/busybox.tar" berth-demo/busybox
./bin/berth build --progress plain -t berth-demo/hello fixtures/hello
./bin/berth run --rm berth-demo/hello
