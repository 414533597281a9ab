#!/bin/sh
# A leader probe for faultline's Raft store driven as `kind: command`: prints "ID TERM" when
# the node at $1 says it leads (its GET /status), nothing (and exit 1) otherwise.
#   leader: { exec: "sh examples/raft-command/leader.sh {client_addr} {id}" }
status=$(curl -s -m 1 "http://$1/status") || exit 1
case "$status" in
  *'"role":"leader"'*) ;;
  *) exit 1 ;;
esac
term=$(printf '%s' "$status" | sed -n 's/.*"term":\([0-9]*\).*/\1/p')
echo "$2 $term"
