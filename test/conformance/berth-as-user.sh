#!/bin/sh
# differ.py's --berth for a rootless run (`differ.py --berth test/conformance/berth-as-user.sh`):
# runs bin/berth as the ordinary user $BERTH_TEST_USER, with the store differ.py names. differ.py
# runs as root in a temp dir of its own (0700); the user is let into it to read contexts and
# write archives and the store.
set -eu
user=${BERTH_TEST_USER:?set BERTH_TEST_USER to an ordinary user}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(dirname "$BERTH_ROOT")
# differ.py's own temp dirs are 0700 and its base image tarball 0600: the user is let in. Nothing
# inside a build context is touched (its modes are what the build copies). `save -o FILE` writes
# into FILE's folder.
chmod o+rwx "$work"
find "$work" -maxdepth 1 -type f -exec chmod o+r {} +
[ -d "$work/cases" ] && chmod o+rx "$work/cases"
prev=
for arg in "$@"; do
  if [ "$prev" = -o ]; then chmod o+rwx "$(dirname "$arg")"; fi
  prev=$arg
done
[ -d "$BERTH_ROOT" ] || runuser -u "$user" -- mkdir -p "$BERTH_ROOT"
home=$(getent passwd "$user" | cut -d: -f6)
exec runuser -u "$user" -- env -i HOME="$home" USER="$user" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
  BERTH_ROOT="$BERTH_ROOT" NO_COLOR=1 "$here/bin/berth" "$@"
