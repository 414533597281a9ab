#!/usr/bin/env python3
"""The forwarding stdio adapter of the pipe bench: each request becomes one POST /kv to the
server at argv[1] over a keep-alive connection (standard library only); a 200 is ok."""
import http.client
import json
import sys

host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=5)
for line in sys.stdin:
    op = json.loads(line)
    body = json.dumps({"op": op["f"], "key": op.get("key"), "value": op.get("value")})
    conn.request("POST", "/kv", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    reply = {"type": "ok"} if answer.status == 200 else {"type": "info", "error": "http"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
