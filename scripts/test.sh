#!/usr/bin/env bash
# The README's second command (and CI's): install what the tests need, then lint, type-check and
# run the whole vitest suite, integration tests included (they need root), and the differential
# tests against Docker's BuildKit (docker.io is the oracle only; differ.py starts dockerd).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in busybox-static gcc make skopeo umoci docker-registry apache2-utils openssl bzip2 xz-utils libcap2-bin docker.io; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
npm ci
npm run lint
npm test
