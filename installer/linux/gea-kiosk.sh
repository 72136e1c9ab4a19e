#!/bin/sh
# /usr/bin/gea-kiosk, installed by the gea-kiosk package: every command works on the installed
# kiosk's paths, and a command run by root (sudo gea-kiosk enroll ...) runs as the kiosk's own
# account, so it never leaves files in /var/lib/gea-kiosk that the kiosk cannot read.
# `enroll --from-file` is the exception: it reads IT's /etc/gea-kiosk/enroll.toml as root and
# hands the enrollment itself to the kiosk's account (kiosk/enroll_file.py).
set -e
KIOSK=/opt/gea-kiosk/gea-kiosk
ACCOUNT=gea-kiosk
GEA_KIOSK_DATA_DIR=${GEA_KIOSK_DATA_DIR:-/var/lib/gea-kiosk}
GEA_KIOSK_CONFIG=${GEA_KIOSK_CONFIG:-/etc/gea-kiosk/kiosk.toml}
GEA_KIOSK_ACCOUNT=$ACCOUNT
export GEA_KIOSK_DATA_DIR GEA_KIOSK_CONFIG GEA_KIOSK_ACCOUNT

from_file=no
for arg in "$@"; do
    case "$arg" in --from-file | --from-file=*) from_file=yes ;; esac
done
if [ "$(id -u)" -ne 0 ] || [ "$from_file" = yes ]; then
    exec "$KIOSK" "$@"
fi
if ! getent passwd "$ACCOUNT" >/dev/null; then
    echo "gea-kiosk: the $ACCOUNT account is missing; reinstall the gea-kiosk package" >&2
    exit 2
fi
# root's own session variables would point Qt and the kiosk at root's files.
unset XDG_RUNTIME_DIR XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME
export HOME="$GEA_KIOSK_DATA_DIR" USER="$ACCOUNT" LOGNAME="$ACCOUNT"
exec setpriv --reuid="$ACCOUNT" --regid="$ACCOUNT" --init-groups -- "$KIOSK" "$@"
