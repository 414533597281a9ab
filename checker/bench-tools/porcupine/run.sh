#!/bin/sh
# Builds checker/bench-tools/porcupine/main.go against a Porcupine source tree and runs it.
# usage: PORCUPINE_SRC=/path/to/porcupine run.sh [-n N] FILE...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${PORCUPINE_SRC:?set PORCUPINE_SRC to a checkout of github.com/anishathalye/porcupine}
dir=${TMPDIR:-/tmp}/porcupine-time
mkdir -p "$dir"
cp "$here/main.go" "$dir/main.go"
cat > "$dir/go.mod" <<MOD
module porcupinetime

go 1.16

require github.com/anishathalye/porcupine v0.0.0
replace github.com/anishathalye/porcupine => $src
MOD
(cd "$dir" && GOFLAGS=-mod=mod go build -o porcupine-time .)
exec "$dir/porcupine-time" "$@"
