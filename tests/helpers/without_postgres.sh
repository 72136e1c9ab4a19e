#!/bin/sh
# Runs a command as it would run on a machine without PostgreSQL. Meant to be started by
# `unshare --net --mount` (root): in the new network namespace only loopback is brought up, so
# nothing answers on 127.0.0.1:5432, and empty file systems cover the system's PostgreSQL
# binaries and its socket directory, in this mount namespace only.
set -eu
for hidden in /var/run/postgresql /usr/lib/postgresql; do
    if [ -d "$hidden" ]; then
        mount -t tmpfs -o size=1m,mode=0755 tmpfs "$hidden"
    fi
done
ip link set lo up
exec "$@"
