#!/usr/bin/env python3
"""A faultline stdio adapter for faultline's own Raft store, standard library only.

    python3 examples/raft-command/adapter.py {client_addrs}

It shows that the generic path (`kind: command` + an adapter) judges a system as the
built-in one does. The store's API (POST /kv, JSON) is in system-under-test/src/lib.rs.
Each request goes to the node the worker is bound to (`node`); a 503 not-leader refusal
names the leader, and the request is sent there instead (a refusal is definite, so that
is safe), at most a few times within the timeout. Writes carry a request id (this
process's client id and a sequence number), as the built-in client's do.

Classification (the store's table):
  200 ok -> ok; 409 -> fail (cas-mismatch); 503 not-leader -> fail if no leader answers;
  400/404 -> fail; 503 other, 504, 500 -> info; connection refused -> fail;
  timeout or connection lost after sending -> info.
"""

import http.client
import json
import os
import socket
import sys
import time


def main():
    addrs = dict(pair.split("=", 1) for pair in sys.argv[1].split(","))
    client = "a%d" % os.getpid()
    seq = 0
    conns = {}
    for line in sys.stdin:
        op = json.loads(line)
        seq += 1
        reply = perform(op, addrs, conns, client, seq)
        if reply["type"] != "ok":
            print("%s -> %s" % (line.strip(), json.dumps(reply)), file=sys.stderr, flush=True)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def body_of(op, client, seq):
    f, key, value = op["f"], op["key"], op.get("value")
    if f == "read":
        return {"op": "read", "key": key}
    if f == "write":
        return {"op": "write", "key": key, "value": value, "client": client, "seq": seq}
    if f == "cas":
        return {"op": "cas", "key": key, "from": value[0], "to": value[1],
                "client": client, "seq": seq}
    return None


def perform(op, addrs, conns, client, seq):
    body = body_of(op, client, seq)
    if body is None:
        return {"type": "fail", "error": "unsupported-op-" + op["f"]}
    deadline = time.monotonic() + op.get("timeout_ms", 1000) / 1000.0 * 0.9
    node = op["node"]
    payload = json.dumps(body)
    for _ in range(4):
        left = deadline - time.monotonic()
        if left <= 0:
            return {"type": "info", "error": "timeout"}
        conn = conns.get(node)
        if conn is None:
            host, port = addrs[node].rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=left)
            conns[node] = conn
        conn.timeout = left
        if conn.sock is not None:
            conn.sock.settimeout(left)
        sent = False
        try:
            if conn.sock is None:
                conn.connect()
            sent = True
            conn.request("POST", "/kv", payload, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            status, text = answer.status, answer.read()
        except (ConnectionRefusedError, socket.gaierror):
            conns.pop(node, None).close()
            return {"type": "fail", "error": "connection-refused"}
        except socket.timeout:
            conns.pop(node, None).close()
            return {"type": "info" if sent else "fail", "error": "timeout"}
        except (OSError, http.client.HTTPException):
            conns.pop(node, None).close()
            return {"type": "info" if sent else "fail", "error": "reset"}
        try:
            answer_body = json.loads(text)
        except ValueError:
            answer_body = {}
        error = answer_body.get("error") if isinstance(answer_body, dict) else None
        if status == 200:
            if op["f"] == "read":
                return {"type": "ok", "value": answer_body.get("value")}
            return {"type": "ok", "value": op["value"]}
        if status == 503 and error == "not-leader":
            leader = answer_body.get("leader")
            if leader in addrs and leader != node:
                node = leader
                continue
            return {"type": "fail", "error": "not-leader"}
        if status == 409 or 400 <= status < 500:
            return {"type": "fail", "error": error or "http-%d" % status}
        return {"type": "info", "error": error or "http-%d" % status}
    return {"type": "fail", "error": "not-leader"}


if __name__ == "__main__":
    main()
