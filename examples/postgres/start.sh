#!/bin/sh
# Starts one PostgreSQL server for faultline's `kind: command` system (examples/postgres/).
#
#   sh examples/postgres/start.sh DATA_DIR HOST PORT
#
# PostgreSQL refuses to run as root: the data directory is handed to the `postgres` user
# that Debian's package creates, initialised on the first start (trust authentication on
# loopback only), and the server is exec'd with `setpriv` (no intermediate process, unlike
# `runuser`, which forks and waits): the postmaster is the node process faultline started,
# in the process group that kill and pause hit, so that no backend outlives a kill -9. Unix sockets are off: clients use TCP on HOST:PORT.
set -eu
data_dir=$1
host=$2
port=$3
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/postgres" ] || { echo "start.sh: no $bin/postgres (apt-get install postgresql, or set PG_BIN)" >&2; exit 2; }
mkdir -p "$data_dir"
chown postgres "$data_dir"
chmod 700 "$data_dir"
if ! runuser -u postgres -- test -w "$data_dir"; then
    echo "start.sh: user postgres cannot write $data_dir (a parent directory is not searchable by it)" >&2
    exit 2
fi
if [ ! -f "$data_dir/PG_VERSION" ]; then
    # initdb costs seconds of CPU (more than the node's readiness wait on a loaded 2-core
    # machine), so one initialised cluster is kept as a template per PostgreSQL binary and
    # copied: made once in a temporary directory, fsynced, then renamed into place, so that
    # concurrent runs never see half of one.
    template=${PG_TEMPLATE:-/var/tmp/faultline-postgres-template-$(echo "$bin" | tr / _)}
    if [ ! -f "$template/PG_VERSION" ]; then
        scratch=$(mktemp -d "$template.XXXXXX")
        chown postgres "$scratch"
        runuser -u postgres -- "$bin/initdb" -D "$scratch" -U postgres -A trust >"$scratch.log" 2>&1 ||
            { cat "$scratch.log" >&2; rm -rf "$scratch" "$scratch.log"; exit 2; }
        rm -f "$scratch.log"
        mv -T "$scratch" "$template" 2>/dev/null || rm -rf "$scratch"
    fi
    cp -a "$template/." "$data_dir/"
    sync -f "$data_dir"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$data_dir" \
    -c listen_addresses="$host" -p "$port" -c unix_socket_directories='' \
    -c fsync=on -c synchronous_commit=on -c max_connections=200 \
    -c log_min_messages=warning
