#!/usr/bin/env bash
# Docker in berth's place, for differ.py's --berth: `differ.py --berth test/conformance/docker-as-berth.sh`
# builds every case twice with the same Docker (DIFFER_DOCKER, e.g. the 26 oracle) and compares,
# so a new case can be shown stable Docker-vs-Docker before berth is judged by it. The second
# build has no cache and its own tags (dvd-<tag>), so it is a real second build, not the first
# image saved twice.
set -euo pipefail
DOCKER=${DIFFER_DOCKER:-docker}
cmd=$1; shift
case "$cmd" in
  load) exec "$DOCKER" load -q "$@" ;;
  save)
    out=; args=()
    while [ $# -gt 0 ]; do
      case "$1" in -o) out=$2; shift 2 ;; *) args+=("dvd-$1"); shift ;; esac
    done
    exec "$DOCKER" save -o "$out" "${args[@]}" ;;
  build)
    args=()
    while [ $# -gt 0 ]; do
      case "$1" in -t) args+=(-t "dvd-$2"); shift 2 ;; *) args+=("$1"); shift ;; esac
    done
    exec "$DOCKER" build --no-cache "${args[@]}" ;;
  *) echo "docker-as-berth: unknown command $cmd" >&2; exit 2 ;;
esac
