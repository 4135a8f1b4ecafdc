#!/usr/bin/env bash
# The README's second command (and CI's): install what the tests need, then lint, type-check and
# run the whole vitest suite, integration tests included (they need root), and the differential
# tests against Docker's BuildKit: Docker 26.1 (BuildKit 0.13, containerd store) in a Debian 13
# chroot that ../shared/conformance/oracle.sh makes once. Debian 12's docker.io 20.10 stays for
# the archive interop tests (docker load / docker run of what berth saves). Both are oracles only.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in busybox-static gcc make libseccomp-dev slirp4netns uidmap keyutils debootstrap skopeo umoci docker-registry apache2-utils openssl bzip2 xz-utils zstd libcap2-bin docker.io git openssh-client tmux podman buildah; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
npm ci
npm run lint
# A dockerd for the tests that use Docker as the oracle: the interop tests (docker load of
# berth's archives) decide when their file is collected, before differ.py would start one, and
# would be skipped. Started as differ.py starts it, and left running as differ.py leaves it.
if ! docker info >/dev/null 2>&1; then
  setsid dockerd --iptables=false --bridge=none >>/tmp/berth-test-dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/berth-test-dockerd.log" >&2; exit 1; }
fi
# The differential tests' oracle, made here (once, ~5 min, from deb.debian.org) so that a failure
# says so plainly instead of inside a vitest hook. Not eval'ed: only differ.py asks Docker 26
# (test/conformance/differ.root.test.ts passes its socket on); every other docker call keeps 20.10.
bash ../shared/conformance/oracle.sh env >/dev/null \
  || { echo "the Docker 26 oracle did not start (../shared/conformance/oracle.sh); see /tmp/berth-oracle-dockerd.log" >&2; exit 1; }
# npm test runs the tests that use a Docker daemon (test/conformance, the docker load and docker
# run interop tests, berth inside a container) on their own after the rest: with the whole suite
# beside them, Docker 20.10 failed its own work now and then (a RUN or `docker run` of an image not
# finding /bin/sh or cat), never berth's side. The cause is not known (notes/NOTICED.md).
npm test
