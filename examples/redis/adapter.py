#!/usr/bin/env python3
"""A faultline stdio adapter for Redis, standard library only (RESP over a socket).

faultline starts one of these per client worker:

    python3 examples/redis/adapter.py {client_addr}

and writes one JSON request per line on stdin; this answers one JSON reply per line on
stdout (the protocol: docs/adapter-protocol.md). Workload: register (read / write / cas on
integer values). A cas is one Lua script, so Redis runs it atomically.

Classification, the adapter's own job (faultline takes its word):
- connection refused, or the connection failed before the request was sent: fail
  (nothing reached Redis);
- no answer within the request's timeout_ms, or the connection broke after sending: info
  (the command may have run); the connection is dropped, the next op reconnects;
- a Redis error reply (-ERR, -LOADING, ...): fail (Redis refused the command);
- a cas whose compare does not hold: fail "cas-mismatch".
Diagnostics go to stderr (faultline keeps them in adapters/<worker>.log).
"""

import json
import socket
import sys

CAS_SCRIPT = (
    "local v = redis.call('GET', KEYS[1]) "
    "if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end "
    "return 0"
)


class Sent(Exception):
    """The request may have reached Redis: the outcome is unknown."""


class NotSent(Exception):
    """Nothing reached Redis: the request definitely did not take effect."""


class RedisError(Exception):
    """Redis answered with an error reply."""


class Redis:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def command(self, args, timeout_s):
        if self.sock is None:
            try:
                self.sock = socket.create_connection(self.addr, timeout=timeout_s)
            except ConnectionRefusedError as e:
                self.close()
                raise NotSent("connection-refused") from e
            except OSError as e:
                self.close()
                raise NotSent("connect-failed") from e
        self.sock.settimeout(timeout_s)
        payload = b"*%d\r\n" % len(args)
        for arg in args:
            data = str(arg).encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
        try:
            self.sock.sendall(payload)
        except OSError as e:
            # sendall may have written part of it: unknown.
            self.close()
            raise Sent("reset") from e
        try:
            return self.reply()
        except socket.timeout as e:
            self.close()
            raise Sent("timeout") from e
        except OSError as e:
            self.close()
            raise Sent("reset") from e

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed by redis")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed by redis")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exactly(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionResetError("unexpected RESP type %r" % kind)


def perform(redis, op):
    f, key, value = op["f"], op.get("key"), op.get("value")
    timeout_s = max(op.get("timeout_ms", 1000), 1) / 1000.0 * 0.8
    try:
        if f == "read":
            got = redis.command(["GET", key], timeout_s)
            return {"type": "ok", "value": None if got is None else int(got)}
        if f == "write":
            redis.command(["SET", key, value], timeout_s)
            return {"type": "ok", "value": value}
        if f == "cas":
            old, new = value
            expected = "" if old is None else old
            done = redis.command(["EVAL", CAS_SCRIPT, 1, key, expected, new], timeout_s)
            if done == 1:
                return {"type": "ok", "value": value}
            return {"type": "fail", "error": "cas-mismatch"}
        return {"type": "fail", "error": "unsupported-op-" + str(f)}
    except NotSent as e:
        return {"type": "fail", "error": str(e)}
    except Sent as e:
        return {"type": "info", "error": str(e)}
    except RedisError as e:
        return {"type": "fail", "error": "redis: %s" % str(e)[:100]}


def main():
    redis = Redis(sys.argv[1])
    for line in sys.stdin:
        op = json.loads(line)
        reply = perform(redis, op)
        if reply["type"] != "ok":
            print("%s -> %s" % (line.strip(), json.dumps(reply)), file=sys.stderr, flush=True)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
