#!/bin/sh
# Starts one PostgreSQL server for faultline's `kind: command` system (examples/postgres/).
#
#   sh examples/postgres/start.sh DATA_DIR HOST PORT
#
# PostgreSQL refuses to run as root: the data directory is handed to the `postgres` user
# that Debian's package creates, initialised on the first start (trust authentication on
# loopback only), and the server is exec'd under `runuser`, so that it stays in the process
# group faultline kills and pauses. Unix sockets are off: clients use TCP on HOST:PORT.
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
    runuser -u postgres -- "$bin/initdb" -D "$data_dir" -U postgres -A trust >"$data_dir/../initdb.log" 2>&1 ||
        { cat "$data_dir/../initdb.log" >&2; exit 2; }
fi
exec runuser -u postgres -- "$bin/postgres" -D "$data_dir" \
    -c listen_addresses="$host" -p "$port" -c unix_socket_directories='' \
    -c fsync=on -c synchronous_commit=on -c max_connections=200 \
    -c log_min_messages=warning
