#!/usr/bin/env python3
"""A deliberately broken stdio adapter, for faultline's tests of the protocol's bad cases.

    python3 tests/adapters/broken.py MODE EVERY ADDR [anything else, ignored]

It is the Redis example adapter (examples/redis/adapter.py), except that every EVERY-th
request of each process it neither performs nor answers properly, as MODE says:

- hang:    reads the request and never answers (sleeps; faultline's timeout must fire);
- garbage: prints a line that is not JSON;
- unknown: prints a JSON object whose type is not ok, fail or info;
- exit:    exits with status 3 without answering.

The request is never sent to Redis in those cases, so the system stays correct and the
history must still check valid; each case must end `info` (a read: `fail`) in it.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "redis"))
import adapter  # noqa: E402


def main():
    mode, every, addr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    redis = adapter.Redis(addr)
    for n, line in enumerate(sys.stdin, start=1):
        op = json.loads(line)
        if n % every == 0:
            print("misbehaving (%s) on %s" % (mode, line.strip()), file=sys.stderr, flush=True)
            if mode == "hang":
                time.sleep(3600)
            elif mode == "garbage":
                sys.stdout.write("this is not json {\n")
                sys.stdout.flush()
                continue
            elif mode == "unknown":
                sys.stdout.write(json.dumps({"type": "maybe", "value": 1}) + "\n")
                sys.stdout.flush()
                continue
            elif mode == "exit":
                sys.exit(3)
        sys.stdout.write(json.dumps(adapter.perform(redis, op)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
