#!/usr/bin/python3
"""faultline stdio adapter for PostgreSQL transactions (examples/postgres/).

    /usr/bin/python3 examples/postgres/adapter.py HOST:PORT ISOLATION

ISOLATION is `read-committed`, `repeatable-read` or `serializable`. One adapter process
serves one faultline client worker: it reads one JSON request per line on stdin and writes
one JSON reply per line on stdout (docs/adapter-protocol.md). Requests are `f: txn` ops
whose value is a list of micro-ops, as faultline's list-append and rw-register workloads
generate them:

    ["append", k, v]   append v to the list under k      ["r", k, null]  read k's list
    ["w", k, v]        set k to v                         ["r", k, null]  read k's value

Each transaction runs in one PostgreSQL transaction at the given isolation level, on one
table per workload: `lists (k text primary key, v text)` holds a list as comma-separated
integers (an append is an upsert that concatenates, as Jepsen's PostgreSQL test does),
`registers (k text primary key, v bigint)`.

Replies: `ok` with the micro-ops completed (reads filled in) after COMMIT returned;
`fail` when PostgreSQL aborted the transaction (serialization failure, deadlock, any
error before COMMIT: nothing of it is visible); `info` when the outcome is unknown (the
connection broke during COMMIT). A broken connection is reopened at the next request.
Needs Debian's python3-psycopg2, hence /usr/bin/python3 (a pyenv python has no psycopg2).
"""

import json
import sys

import psycopg2
import psycopg2.errors
import psycopg2.extensions

LEVELS = {
    "read-committed": psycopg2.extensions.ISOLATION_LEVEL_READ_COMMITTED,
    "repeatable-read": psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ,
    "serializable": psycopg2.extensions.ISOLATION_LEVEL_SERIALIZABLE,
}

# SQLSTATE classes after which PostgreSQL has rolled the transaction back.
ABORTED = {
    "40001": "serialization-failure",
    "40P01": "deadlock-detected",
    "23505": "unique-violation",
}


def log(message):
    print(f"postgres adapter: {message}", file=sys.stderr, flush=True)


class Adapter:
    def __init__(self, addr, isolation):
        host, _, port = addr.rpartition(":")
        self.host, self.port = host, int(port)
        self.level = LEVELS[isolation]
        self.conn = None

    def connect(self):
        if self.conn is not None and not self.conn.closed:
            return self.conn
        conn = psycopg2.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres",
            connect_timeout=2, application_name="faultline",
        )
        conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_READ_COMMITTED,
                         autocommit=True)
        with conn.cursor() as cur:
            # Every adapter creates the tables; concurrent creations race on the catalog,
            # which the loser sees as a unique violation and may ignore.
            for ddl in ("CREATE TABLE IF NOT EXISTS lists (k text PRIMARY KEY, v text NOT NULL)",
                        "CREATE TABLE IF NOT EXISTS registers (k text PRIMARY KEY, v bigint NOT NULL)"):
                try:
                    cur.execute(ddl)
                except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
                    pass
        conn.set_session(isolation_level=self.level, autocommit=False)
        self.conn = conn
        return conn

    def drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
        self.conn = None

    def txn(self, mops):
        """Runs one transaction; returns the reply."""
        try:
            conn = self.connect()
        except psycopg2.Error as e:
            # Not connected: nothing was sent, the transaction did not happen.
            return {"type": "fail", "error": f"connect: {first_line(e)}"}
        done = []
        try:
            with conn.cursor() as cur:
                for mop in mops:
                    done.append(apply(cur, mop))
        except psycopg2.Error as e:
            code = getattr(e, "pgcode", None)
            self.rollback_or_drop()
            name = ABORTED.get(code, f"sqlstate-{code}" if code else "connection")
            # Before COMMIT nothing is visible to others whatever happened.
            return {"type": "fail", "error": f"{name}: {first_line(e)}"}
        try:
            conn.commit()
        except psycopg2.Error as e:
            code = getattr(e, "pgcode", None)
            if code in ABORTED:
                self.rollback_or_drop()
                return {"type": "fail", "error": f"{ABORTED[code]} at commit: {first_line(e)}"}
            self.drop()
            return {"type": "info", "error": f"commit: {first_line(e)}"}
        return {"type": "ok", "value": done}

    def rollback_or_drop(self):
        try:
            self.conn.rollback()
        except psycopg2.Error:
            self.drop()


def apply(cur, mop):
    f, k, v = mop
    key = str(k)
    if f == "append":
        cur.execute(
            "INSERT INTO lists AS t (k, v) VALUES (%s, %s) "
            "ON CONFLICT (k) DO UPDATE SET v = t.v || ',' || EXCLUDED.v",
            (key, str(int(v))),
        )
        return [f, k, v]
    if f == "w":
        cur.execute(
            "INSERT INTO registers AS t (k, v) VALUES (%s, %s) "
            "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
            (key, int(v)),
        )
        return [f, k, v]
    if f == "r":
        if isinstance(v, list) or v is None and LIST_READS[0]:
            cur.execute("SELECT v FROM lists WHERE k = %s", (key,))
            row = cur.fetchone()
            return [f, k, [] if row is None else [int(x) for x in row[0].split(",")]]
        cur.execute("SELECT v FROM registers WHERE k = %s", (key,))
        row = cur.fetchone()
        return [f, k, None if row is None else row[0]]
    raise ValueError(f"unknown micro-op {f!r}")


# Whether a read whose value is null reads a list (list-append) or a register: set from the
# transaction's other micro-ops, or from the command line's workload argument.
LIST_READS = [True]


def first_line(e):
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[2] not in LEVELS:
        log(f"usage: adapter.py HOST:PORT {'|'.join(LEVELS)} [list-append|rw-register]")
        return 64
    if len(sys.argv) == 4:
        LIST_READS[0] = sys.argv[3] != "rw-register"
    adapter = Adapter(sys.argv[1], sys.argv[2])
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except ValueError as e:
            reply = {"type": "info", "error": f"adapter could not read the request: {e}"}
        else:
            if request.get("f") != "txn":
                reply = {"type": "fail", "error": f"this adapter runs only txn ops, not {request.get('f')!r}"}
            else:
                try:
                    reply = adapter.txn(request.get("value") or [])
                except (ValueError, TypeError) as e:
                    adapter.rollback_or_drop()
                    reply = {"type": "fail", "error": f"bad micro-op: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    adapter.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
