"""Integration tests of `xcensus serve` (run by serve.sh CASE, with the xc_pg
fixture's environment and XC_SERVE_DB holding the known dataset).

Cases:
  api      every catalog query: status, JSON shape, every page followed
           through its next links equals the catalog's SQL run by psql;
           bad arguments are 400s with a JSON error; 404s; 405 with Allow;
           HEAD; security headers; /api/v1/ and /healthz
  limits   oversized headers (431), a body (400/413), a client sending
           bytes slower than the timeout and one trickling within it are
           dropped; SIGINT stops the server cleanly; max_connections;
           max_pending refusals; a query over statement_timeout is a 503
  static   dashboard files: index, content types, cache headers; path
           tricks (.., encoded dots, //, NUL, backslash, hidden files,
           symlinks out of the directory) are refused
  metrics  /metrics parses as Prometheus text 0.0.4 and its database
           figures equal SQL; request counters and histogram add up
  dbdown   with the database unreachable: /healthz and the API answer 503
           in JSON, /metrics says xcensus_database_up 0; /healthz is 503 on
           a database without the program's schema

Every case ends by stopping the server with SIGTERM (SIGINT in limits) and
requires exit status 0 (so AddressSanitizer found no leak or error).
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

XCENSUS = os.environ["XCENSUS"]
SRC = os.environ["XC_SOURCE_DIR"]
LOGDIR = os.environ["XC_TEST_LOGDIR"]
DB = os.environ["XC_SERVE_DB"]
PSQL = os.path.join(os.environ.get("XC_PG_BINDIR", "/usr/bin"), "psql")
REQUEST_TIMEOUT_S = 1
SECRET = "xcensus-serve-test-secret-7f3a"

failures = []
servers = []  # running; killed by die() so that none outlives the test


def check(cond, what):
    if cond:
        print("ok:", what)
    else:
        print("FAIL:", what)
        failures.append(what)


def die(what):
    print("FAIL:", what)
    for srv in servers:
        if srv.p.poll() is None:
            srv.p.kill()
    sys.exit(1)


class Server:
    """One `xcensus serve` process on a free port of 127.0.0.1."""

    def __init__(self, name, conninfo, static_dir=None, extra=None):
        cfg = os.path.join(LOGDIR, name + ".yaml")
        keys = {"request_timeout": "%ds" % REQUEST_TIMEOUT_S, "statement_timeout": "5s",
                "db_connections": "2", "cache_ttl": "60s"}
        keys.update(extra or {})
        with open(cfg, "w") as f:
            f.write("serve:\n" + "".join("  %s: %s\n" % kv for kv in keys.items()))
        args = [XCENSUS, "--config", cfg, "serve", "-d", conninfo, "--port", "0"]
        if static_dir:
            args += ["--static-dir", static_dir]
        self.err = open(os.path.join(LOGDIR, name + ".log"), "w")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err,
                                  text=True)
        servers.append(self)
        line = self.p.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            die("serve did not start: %r (see %s.log)" % (line, name))
        self.port = int(m.group(1))
        self.name = name

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = "hung"
        self.err.close()
        check(rc == 0, "%s stops on %s with status 0 (got %s)" %
              (self.name, signal.Signals(sig).name, rc))


def request(port, path, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, body


def get_json(port, path):
    st, h, body = request(port, path)
    try:
        return st, h, json.loads(body)
    except ValueError:
        die("%s: not JSON: %r" % (path, body[:200]))


def raw(port, data, timeout=10):
    """Sends bytes on a fresh connection, returns everything received."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", resp)
    return int(m.group(1)) if m else None


def psql(sql):
    env = dict(os.environ, PGTZ="UTC")
    r = subprocess.run([PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", DB,
                        "-c", sql], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        die("psql failed: %s\n%s" % (sql, r.stderr))
    return r.stdout.strip()


def sql_literal(v):
    return "NULL" if v is None else "'" + v.replace("'", "''") + "'"


def is_error(body, status):
    return (isinstance(body, dict) and set(body) == {"error"}
            and body["error"].get("status") == status
            and isinstance(body["error"].get("message"), str)
            and body["error"]["message"] != "")


def check_security_headers(h, what):
    check(h.get("x-content-type-options") == "nosniff", what + ": nosniff")
    csp = h.get("content-security-policy", "")
    check("default-src 'self'" in csp and "script-src 'self'" in csp
          and "frame-ancestors 'none'" in csp, what + ": content security policy")
    check("cache-control" in h, what + ": cache-control")


# --- api ---------------------------------------------------------------------

# Values of required (and some optional) parameters that hit the dataset.
KNOWN = {"domain": "alpha.example", "feature": "urn:xmpp:mam:2",
         "old": "jabber:iq:privacy", "new": "urn:xmpp:blocking",
         "base": "urn:xmpp:mam", "q": "mam", "software": "Prosody"}
TYPED = {"integer": "1", "date": "2026-03-01", "boolean": "true"}


def args_for(entry, optional=False):
    out = {}
    for p in entry["params"]:
        if p["required"] or (optional and p["name"] in KNOWN):
            out[p["name"]] = KNOWN.get(p["name"]) if p["type"] == "text" else TYPED[p["type"]]
            if out[p["name"]] is None:
                out[p["name"]] = "x"
    return out


def expected_rows(op, entry, args):
    """The catalog's SQL run by psql, in its order, as JSON rows."""
    names = [p["name"] for p in entry["params"]]
    values = [sql_literal(args.get(n)) for n in names]
    sql = "SELECT * FROM (%s) q ORDER BY %s" % (op["x-sql"], op["x-order-by"])
    if names:
        text = ("PREPARE x AS SELECT coalesce(json_agg(row_to_json(z)), '[]') FROM (%s) z;"
                " EXECUTE x(%s);" % (sql, ", ".join(values)))
    else:
        text = "SELECT coalesce(json_agg(row_to_json(z)), '[]') FROM (%s) z" % sql
    return json.loads(psql(text))


def fetch_all(port, path, what):
    rows, pages, url = [], 0, path
    limit = None
    while url:
        st, h, doc = get_json(port, url)
        if st != 200:
            check(False, "%s: page %s answers 200 (got %d %s)" % (what, url, st, doc))
            return None, None
        if limit is None:
            limit = doc["limit"]
        if len(doc["rows"]) > doc["limit"]:
            check(False, "%s: page longer than its limit" % what)
        if doc["next"] is not None and len(doc["rows"]) != doc["limit"]:
            check(False, "%s: a page with a next link is full" % what)
        rows += doc["rows"]
        pages += 1
        url = doc["next"]
        if pages > 10000:
            die("%s: endless next links" % what)
    return rows, doc


def case_api(port):
    st, h, cat = get_json(port, "/api/v1/")
    check(st == 200 and isinstance(cat.get("queries"), list) and cat["queries"],
          "GET /api/v1/ lists the catalog")
    check_security_headers(h, "/api/v1/")
    check(h.get("content-type") == "application/json", "/api/v1/ content type")
    check(h.get("cache-control") == "no-store", "API answers are not cached")
    openapi = json.loads(subprocess.run([XCENSUS, "serve", "--openapi"],
                                        capture_output=True, text=True, check=True).stdout)
    names = [q["name"] for q in cat["queries"]]
    check(["/api/v1/" + n for n in names] ==
          [p for p in openapi["paths"] if p.startswith("/api/v1/") and p != "/api/v1/"],
          "the list and the OpenAPI description name the same queries")
    for q in cat["queries"]:
        ok = (set(q) == {"name", "title", "help", "params", "path"}
              and q["path"] == "/api/v1/" + q["name"]
              and all(set(p) == {"name", "type", "required", "help"}
                      and p["type"] in ("text", "integer", "date", "boolean")
                      for p in q["params"]))
        check(ok, "catalog entry %s has the contract's shape" % q["name"])

    st, h, health = get_json(port, "/healthz")
    version = int(psql("SELECT max(version) FROM schema_migrations"))
    check(st == 200 and health == {"status": "ok", "database": "ok",
                                   "schema_version": version},
          "/healthz is ok with schema version %d" % version)

    nonempty = 0
    for q in cat["queries"]:
        op = openapi["paths"][q["path"]]["get"]
        for optional in (False, True):
            args = args_for(q, optional)
            if optional and args == args_for(q, False):
                continue
            qs = urllib.parse.urlencode(args)
            what = "%s?%s" % (q["name"], qs)
            st, h, first = get_json(port, q["path"] + ("?" + qs if qs else ""))
            if st != 200:
                check(False, "%s answers 200 (got %d: %s)" % (what, st, first))
                continue
            shape = (set(first) == {"query", "title", "columns", "rows", "limit",
                                    "offset", "next"}
                     and first["query"] == q["name"] and first["limit"] == 100
                     and first["offset"] == 0
                     and all(set(c) == {"name", "type"} and c["type"] in
                             ("integer", "number", "boolean", "text", "timestamp",
                              "json", "array") for c in first["columns"]))
            check(shape, "%s: page shape" % what)
            want = expected_rows(op, q, args)
            cols = [c["name"] for c in first["columns"]]
            if want:
                check(list(want[0]) == cols, "%s: columns are the SQL's" % what)
            # the first page, then every page of 2 rows through the next links
            check(first["rows"] == want[:100], "%s: rows equal the SQL (%d rows)" %
                  (what, len(want)))
            path = q["path"] + "?" + urllib.parse.urlencode(dict(args, limit=2))
            rows, last = fetch_all(port, path, what)
            if rows is not None:
                check(rows == want, "%s: pages of 2 cover every row once, in order" % what)
                check(last["next"] is None, "%s: the last page has no next link" % what)
            nonempty += bool(want)
            for c in first["columns"]:
                vals = [r[c["name"]] for r in first["rows"] if r[c["name"]] is not None]
                pytype = {"integer": int, "number": (int, float), "boolean": bool,
                          "text": str, "timestamp": str, "array": list}.get(c["type"])
                if pytype and vals:
                    check(all(isinstance(v, pytype) for v in vals),
                          "%s: column %s values are %s" % (what, c["name"], c["type"]))
                if c["type"] == "timestamp" and vals:
                    check(all(re.match(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d+)?"
                                       r"[+-]\d\d:\d\d)?$", v) for v in vals),
                          "%s: %s is ISO 8601" % (what, c["name"]))
    check(nonempty >= len(cat["queries"]) // 2,
          "the dataset fills most queries (%d non-empty)" % nonempty)

    # pagination arithmetic on a fixed query
    q = next(q for q in cat["queries"] if q["name"] == "features")
    full = expected_rows(openapi["paths"]["/api/v1/features"]["get"], q, {})
    st, h, doc = get_json(port, "/api/v1/features?limit=3&offset=2")
    check(doc["rows"] == full[2:5] and doc["offset"] == 2 and doc["limit"] == 3,
          "limit and offset select rows 2..4")
    check(doc["next"] == "/api/v1/features?limit=3&offset=5",
          "the next link carries limit and the next offset")
    st, h, doc = get_json(port, "/api/v1/features?q=%s&limit=1" %
                          urllib.parse.quote("urn:xmpp:mam", safe=""))
    check(doc["next"] is not None and doc["next"].startswith(
        "/api/v1/features?q=urn%3Axmpp%3Amam&limit=1&offset=1"),
        "the next link keeps the arguments, encoded")
    st, h, doc = get_json(port, "/api/v1/features?offset=%d" % (len(full) + 10))
    check(st == 200 and doc["rows"] == [] and doc["next"] is None,
          "an offset past the end is an empty last page")

    # bad arguments
    bad = [
        "/api/v1/features?limit=0", "/api/v1/features?limit=10001",
        "/api/v1/features?limit=abc", "/api/v1/features?limit=", "/api/v1/features?offset=-1",
        "/api/v1/features?offset=1e3", "/api/v1/features?nope=1",
        "/api/v1/features?q=a&q=b", "/api/v1/features?limit=1&limit=2",
        "/api/v1/features?q=%zz", "/api/v1/features?q=a%00b", "/api/v1/features?q=%ff%fe",
        "/api/v1/features?q=" + "a" * 1025, "/api/v1/domain",
        "/api/v1/feature_adoption?since=yesterday", "/api/v1/feature_adoption?since=2026-13-01",
        "/api/v1/features?" + "&".join("x%d=1" % i for i in range(40)),
    ]
    for path in bad:
        st, h, doc = get_json(port, path)
        check(st == 400 and is_error(doc, 400), "400 with a JSON error: %s -> %d %s" %
              (path[:70], st, doc.get("error", {}).get("message") if isinstance(doc, dict) else doc))
    st, h, doc = get_json(port, "/api/v1/features?limit=0")
    check(doc["error"]["message"] == "limit must be an integer between 1 and 10000",
          "the limit message of the contract")

    for path in ["/api/v1/nope", "/api/v1/v_features", "/api/v1/features/x", "/api/v2/features",
                 "/api/", "/api/v1/Features", "/nope.html"]:
        st, h, doc = get_json(port, path)
        check(st == 404 and is_error(doc, 404), "404 with a JSON error: %s" % path)

    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]:
        st, h, body = request(port, "/api/v1/features", method=method)
        check(st == 405 and h.get("allow") == "GET, HEAD" and is_error(json.loads(body), 405),
              "%s is 405 with Allow: GET, HEAD" % method)

    # HEAD: the GET's headers and length, no body (checked on the wire,
    # followed by a GET on the same connection)
    st, h, body = request(port, "/api/v1/features?limit=5")
    resp = raw(port, b"HEAD /api/v1/features?limit=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, _, rest = resp.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: (\d+)", head)
    check(status_of(resp) == 200 and m and int(m.group(1)) == len(body),
          "HEAD has the GET's Content-Length")
    check(rest.startswith(b"HTTP/1.1 200"), "HEAD sends no body (next answer follows at once)")

    st, h, doc = get_json(port, "/healthz")
    check(request(port, "/healthz", headers={"Host": "attacker.example"})[0] == 421,
          "a non-loopback Host is refused (DNS rebinding)")


# --- limits ------------------------------------------------------------------

def case_limits(port):
    st, h, body = request(port, "/healthz", headers={"X-Pad": "a" * 12000})
    check(st == 431 and is_error(json.loads(body), 431), "12 KB of headers: 431 in JSON")
    resp = raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 100000 +
               b"\r\n\r\n")
    check(status_of(resp) in (400, 413, 431), "100 KB of headers refused (%s)" % status_of(resp))
    resp = raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
               b"".join(b"X-H%d: 1\r\n" % i for i in range(2000)) + b"\r\n")
    check(status_of(resp) in (400, 413, 431), "2000 header lines refused (%s)" % status_of(resp))
    resp = raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
               b"\r\n" + b"x" * 1000)
    check(status_of(resp) in (400, 413), "a large body refused (%s)" % status_of(resp))
    resp = raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
               b"Connection: close\r\n\r\nhello")
    check(status_of(resp) == 400, "a GET with a body is 400")
    st, h, body = request(port, "/" + "a" * 9000)
    check(st in (400, 414, 431), "a 9 KB request line refused (%d)" % st)

    # a client sending its request slower than the timeout: dropped
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    req = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    dropped = False
    for i in range(len(req)):
        try:
            s.sendall(req[i:i + 1])
        except OSError:
            dropped = True
            break
        time.sleep(REQUEST_TIMEOUT_S * 1.6 if i < 3 else 0)
        s.settimeout(0.01)
        try:
            if s.recv(4096) == b"":
                dropped = True
                break
        except socket.timeout:
            pass
        except OSError:
            dropped = True
            break
        s.settimeout(30)
    s.close()
    check(dropped, "a client pausing longer than the timeout is dropped")

    # one trickling a byte well within the timeout: dropped at the request
    # deadline although every read came in time
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    dropped, got = False, b""
    for i in range(len(req)):
        try:
            s.sendall(req[i:i + 1])
        except OSError:
            dropped = True
            break
        time.sleep(REQUEST_TIMEOUT_S / 4)
        s.settimeout(0.01)
        try:
            chunk = s.recv(4096)
            if chunk == b"":
                dropped = True
                break
            got += chunk
        except socket.timeout:
            pass
        except OSError:
            dropped = True
            break
        s.settimeout(30)
    s.close()
    check(dropped and not got.startswith(b"HTTP/1.1 200"),
          "a client trickling its request byte by byte is dropped at the deadline")

    # an idle keep-alive connection is closed after the timeout
    s = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S * 10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        data += b"<timeout>"
    s.close()
    check(data.startswith(b"HTTP/1.1 200") and not data.endswith(b"<timeout>"),
          "an idle keep-alive connection is closed by the server")

    # clients that leave before their answer (the query still runs; its
    # answer must not touch the freed request)
    for i in range(20):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /api/v1/features?limit=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                  % (i + 1))
        c.close()
    check(request(port, "/api/v1/features?limit=20")[0] == 200,
          "answers after 20 clients left before theirs")

    st, h, text = request(port, "/metrics")
    m = re.search(rb"xcensus_http_connections_dropped_total (\d+)", text)
    check(m and int(m.group(1)) >= 1, "dropped connections are counted")
    check(request(port, "/healthz")[0] == 200, "the server still answers")


def case_busy(port):
    """max_pending 1: requests arriving together beyond it are 503 in JSON
    (how many depends on timing; every answer must be a 200 or such a 503,
    and /metrics counts the refusals)."""
    socks = []
    for i in range(20):
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        socks.append(c)
    for i, c in enumerate(socks):
        c.sendall(b"GET /api/v1/features?limit=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n" % (i + 1))
    codes = []
    for c in socks:
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        st = status_of(data)
        body = data.partition(b"\r\n\r\n")[2]
        ok = st == 200 or (st == 503 and is_error(json.loads(body), 503))
        codes.append(st if ok else "bad %s" % st)
    check(all(c in (200, 503) for c in codes), "20 requests at once: 200s and JSON 503s "
          "(%d refused)" % codes.count(503))
    st, h, body = request(port, "/metrics")
    m = re.search(rb"xcensus_http_requests_refused_busy_total (\d+)", body)
    check(m and int(m.group(1)) == codes.count(503), "refusals counted")


def case_statement_timeout(port):
    """A query blocked longer than serve.statement_timeout (here by a lock
    another session holds) is a 503 in JSON, and the server's session
    settings reached PostgreSQL (the lock wait counts toward the timeout)."""
    env = dict(os.environ)
    locker = subprocess.Popen([PSQL, "-X", "-q", "-d", DB], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              text=True, env=env)
    servers.append(type("P", (), {"p": locker})())  # killed by die()
    locker.stdin.write("BEGIN; LOCK TABLE domains IN ACCESS EXCLUSIVE MODE;\n")
    locker.stdin.flush()  # psql now waits for more input, the lock held
    for _ in range(500):
        if psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'domains' AND l.mode = 'AccessExclusiveLock'"
                " AND l.granted") == "1":
            break
        time.sleep(0.02)
    else:
        die("the lock was never taken")
    st, h, doc = get_json(port, "/api/v1/domains")
    check(st == 503 and is_error(doc, 503) and "statement timeout" in doc["error"]["message"],
          "a query over the statement timeout is 503 (%d %s)" % (st, doc))
    locker.stdin.write("ROLLBACK;\n")
    locker.stdin.close()
    locker.wait(timeout=30)
    st, h, doc = get_json(port, "/api/v1/domains")
    check(st == 200, "the same query answers once the lock is gone")


def sockets_of(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def case_max_connections(port, pid):
    """With max_connections 2 and two idle connections open, a third
    connection is served only after the server closed an idle one (without
    the bound it would be answered at once, with 3 connections open)."""
    before = sockets_of(pid)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
    for _ in range(300):  # both accepted before the third connects
        if sockets_of(pid) >= before + 2:
            break
        time.sleep(0.01)
    st, h, body = request(port, "/metrics")
    m = re.search(rb"xcensus_http_connections_open (\d+)", body)
    check(st == 200 and m and int(m.group(1)) < 3,
          "a third connection is served only once an idle one is closed "
          "(max_connections; open: %s)" % (m and m.group(1)))
    for s in idle:
        s.close()
    check(request(port, "/healthz")[0] == 200, "served again after the idle ones")


# --- static ------------------------------------------------------------------

def make_static():
    root = os.path.join(LOGDIR, "www")
    outside = os.path.join(LOGDIR, "outside")
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    os.makedirs(outside, exist_ok=True)
    files = {"index.html": "<!doctype html><title>t</title>index",
             "app.js": "console.log('app');", "style.css": "body{}",
             "data.json": "{}", "sub/index.html": "sub index", "sub/page.html": "page",
             "logo.svg": "<svg/>", ".secret": SECRET, "noext": "x"}
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write(SECRET)
    for name, target in [("out.txt", os.path.join(outside, "secret.txt")),
                         ("outdir", outside), ("in.js", os.path.join(root, "app.js"))]:
        p = os.path.join(root, name)
        if not os.path.lexists(p):
            os.symlink(target, p)
    return root


def case_static(port, root):
    want = [("/", 200, "text/html; charset=utf-8", "index"),
            ("/index.html", 200, "text/html; charset=utf-8", "index"),
            ("/app.js", 200, "text/javascript; charset=utf-8", "app"),
            ("/style.css", 200, "text/css; charset=utf-8", "body"),
            ("/data.json", 200, "application/json", "{}"),
            ("/logo.svg", 200, "image/svg+xml", "svg"),
            ("/noext", 200, "application/octet-stream", "x"),
            ("/sub/", 200, "text/html; charset=utf-8", "sub index"),
            ("/sub/page.html", 200, "text/html; charset=utf-8", "page"),
            ("/in.js", 200, "text/javascript; charset=utf-8", "app"),
            ("/app%2Ejs", 400, None, None),
            ("/nope.js", 404, None, None)]
    for path, status, ctype, text in want:
        st, h, body = request(port, path)
        ok = st == status and (ctype is None or h.get("content-type") == ctype) and \
            (text is None or text.encode() in body)
        check(ok, "static %s -> %d %s" % (path, st, h.get("content-type")))
    st, h, body = request(port, "/")
    check_security_headers(h, "static /")
    check(h.get("cache-control") == "no-cache", "pages are revalidated")
    st, h, body = request(port, "/app.js")
    check("max-age" in h.get("cache-control", ""), "assets are cached briefly")

    tricks = ["/../outside/secret.txt", "/%2e%2e/outside/secret.txt",
              "/%2E%2E/outside/secret.txt", "/.%2e/outside/secret.txt",
              "/sub/../../outside/secret.txt", "/sub/%2e%2e/%2e%2e/outside/secret.txt",
              "//etc/passwd", "/sub//page.html", "/.secret", "/%2esecret",
              "/out.txt", "/outdir/secret.txt", "/index.html%00.js", "/a%00",
              "/%5c..%5coutside%5csecret.txt", "/..%2foutside/secret.txt",
              "/%252e%252e/outside/secret.txt", "/sub/./page.html",
              "/" + "a/" * 600 + "x"]
    for path in tricks:
        resp = raw(port, b"GET " + path.encode() +
                   b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        st = status_of(resp)
        check(st in (400, 404) and SECRET.encode() not in resp and b"root:" not in resp,
              "path trick %s refused (%s)" % (path[:60], st))
    resp = raw(port, b"GET /a\x00b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    check(status_of(resp) in (400, 404) and SECRET.encode() not in resp, "a raw NUL refused")


# --- metrics -----------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? '
                    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_prom(text):
    """{(name, frozenset(labels)): value}; fails on any malformed line."""
    types, out = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            check(typ in ("counter", "gauge", "histogram"), "type of %s" % name)
            types[name] = typ
            continue
        m = SAMPLE.match(line)
        if not m:
            check(False, "metric line parses: %r" % line)
            continue
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and base not in types:
            check(False, "%s has a TYPE line before it" % name)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        out[(name, labels)] = float(m.group(3))
    return types, out


def case_metrics(port):
    for _ in range(3):
        request(port, "/api/v1/features?limit=1")
    request(port, "/api/v1/nope")
    st, h, body = request(port, "/metrics")
    check(st == 200 and h.get("content-type") == "text/plain; version=0.0.4; charset=utf-8",
          "/metrics is Prometheus text 0.0.4")
    text = body.decode()
    types, m = parse_prom(text)
    check(len(m) > 20, "/metrics has samples (%d)" % len(m))

    def val(name, **labels):
        return m.get((name, frozenset(labels.items())))

    check(val("xcensus_database_up") == 1, "database up")
    for line in psql("SELECT c.name || '|' || s.st || '|' || count(j.id) FROM crawls c"
                     " CROSS JOIN unnest(ARRAY['queued','leased','done','failed','cancelled'])"
                     " s(st) LEFT JOIN jobs j ON j.crawl_id = c.id AND j.state = s.st"
                     " GROUP BY c.name, s.st").splitlines():
        crawl, state, n = line.rsplit("|", 2)
        check(val("xcensus_queue_jobs", crawl=crawl, state=state) == float(n),
              "queue jobs %s/%s = %s" % (crawl, state, n))
    rows = psql("SELECT probe || '|' || outcome || '|' || count(*) FROM probe_outcomes"
                " GROUP BY probe, outcome").splitlines()
    check(len(rows) > 0, "the dataset has probe outcomes")
    for line in rows:
        probe, outcome, n = line.rsplit("|", 2)
        check(val("xcensus_probe_outcomes_total", probe=probe, outcome=outcome) == float(n),
              "probe outcomes %s/%s = %s" % (probe, outcome, n))
    check(val("xcensus_analysis_runs_total") ==
          float(psql("SELECT count(*) FROM analysis_runs")), "analysis runs")
    last = psql("SELECT extract(epoch FROM max(created_at)) FROM analysis_runs")
    check(last == "" or abs(val("xcensus_analysis_last_run_timestamp_seconds") -
                            float(last)) < 1e-3, "last analysis time")
    check(val("xcensus_schema_version") == float(psql("SELECT max(version) FROM "
                                                      "schema_migrations")), "schema version")
    check(val("xcensus_ingested_rows_total") ==
          float(psql("SELECT coalesce(sum(rows), 0) FROM store_batches")), "ingested rows")
    check(val("xcensus_domains") == float(psql("SELECT count(*) FROM domains")), "domains")
    check(val("xcensus_http_requests_total", **{"class": "api", "code": "200"}) == 3,
          "3 API requests counted")
    check(val("xcensus_http_requests_total", **{"class": "api", "code": "404"}) == 1,
          "1 API 404 counted")
    for cls in ("api", "static", "metrics"):
        inf = val("xcensus_http_request_duration_seconds_bucket", **{"class": cls, "le": "+Inf"})
        cnt = val("xcensus_http_request_duration_seconds_count", **{"class": cls})
        check(inf is not None and inf == cnt, "histogram %s: +Inf bucket = count" % cls)
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in m.items()
                         if k[0] == "xcensus_http_request_duration_seconds_bucket"
                         and dict(k[1]).get("class") == cls and dict(k[1])["le"] != "+Inf")
        check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
              "histogram %s: buckets are cumulative" % cls)
    st, h, body = request(port, "/metrics")
    _, m2 = parse_prom(body.decode())
    check(m2.get(("xcensus_http_requests_total",
                  frozenset({"class": "metrics", "code": "200"}.items()))) == 1,
          "the first scrape is counted by the second")

    # a page asked again, with its arguments in another order, comes from
    # the cache (serve.cache_ttl) and is the same answer
    a = request(port, "/api/v1/features?q=mam&limit=2")
    b = request(port, "/api/v1/features?limit=2&q=mam")
    st, h, body = request(port, "/metrics")
    _, m3 = parse_prom(body.decode())
    hits = m3.get(("xcensus_api_cache_hits_total", frozenset()))
    queries = m3.get(("xcensus_api_db_queries_total", frozenset()))
    check(a[0] == b[0] == 200 and a[2] == b[2], "the same page twice, same answer")
    check(hits is not None and hits >= 1 + m2.get(("xcensus_api_cache_hits_total",
                                                   frozenset()), 0),
          "the second is answered from the cache")
    check(queries == m2.get(("xcensus_api_db_queries_total", frozenset())) + 1,
          "one database query for both")


# --- dbdown ------------------------------------------------------------------

def case_dbdown(port):
    st, h, doc = get_json(port, "/healthz")
    check(st == 503 and doc.get("status") == "unavailable", "/healthz is 503 without a database")
    st, h, doc = get_json(port, "/api/v1/features")
    check(st == 503 and is_error(doc, 503), "the API is 503 in JSON without a database")
    check(h.get("retry-after") is not None, "503 says Retry-After")
    st, h, doc = get_json(port, "/api/v1/features?limit=0")
    check(st == 400, "argument errors are still 400 without a database")
    st, h, body = request(port, "/metrics")
    types, m = parse_prom(body.decode())
    check(st == 200 and m.get(("xcensus_database_up", frozenset())) == 0,
          "/metrics says the database is down")
    st, h, cat = get_json(port, "/api/v1/")
    check(st == 200 and cat["queries"], "the catalog needs no database")


def case_schema(port):
    """/healthz is 503 until the schema is the program's own."""
    st, h, doc = get_json(port, "/healthz")
    check(st == 503 and doc.get("status") == "unavailable",
          "/healthz is 503 on a database never migrated")
    r = subprocess.run([XCENSUS, "migrate", "-d", DB], capture_output=True, text=True)
    check(r.returncode == 0, "migrate")
    top = psql("SELECT max(version) FROM schema_migrations")
    psql("DELETE FROM schema_migrations WHERE version = %s" % top)
    st, h, doc = get_json(port, "/healthz")
    check(st == 503 and doc.get("database") == "ok"
          and doc.get("schema_version") < int(top)
          and "xcensus migrate" in doc.get("message", ""),
          "/healthz is 503 on an older schema and says what to do (%s)" % doc)


def main():
    case = sys.argv[1]
    if case == "dbdown":
        dead = os.path.join(LOGDIR, "no-such-socket-dir")
        srv = Server("serve", "host=%s port=1 dbname=x connect_timeout=2" % dead)
        case_dbdown(srv.port)
        srv.stop()
        srv = Server("serve-old", DB)
        case_schema(srv.port)
        srv.stop()
    elif case == "static":
        root = make_static()
        srv = Server("serve", DB, static_dir=root)
        case_static(srv.port, root)
        srv.stop()
    elif case == "limits":
        srv = Server("serve", DB)
        case_limits(srv.port)
        srv.stop(signal.SIGINT)
        srv = Server("serve2", DB, extra={"max_connections": "2"})
        case_max_connections(srv.port, srv.p.pid)
        srv.stop()
        srv = Server("serve3", DB, extra={"max_pending": "1", "cache_ttl": "0s"})
        case_busy(srv.port)
        srv.stop()
        srv = Server("serve4", DB, extra={"statement_timeout": "200ms", "cache_ttl": "0s"})
        case_statement_timeout(srv.port)
        srv.stop()
    else:
        # no slow clients here: a deadline long enough that a loaded CI
        # machine's first queries are not cut short
        srv = Server("serve", DB, extra={"request_timeout": "10s"})
        {"api": case_api, "metrics": case_metrics}[case](srv.port)
        srv.stop()
    if failures:
        print("%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("serve %s: ok" % case)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        for srv in servers:
            if srv.p.poll() is None:
                srv.p.kill()
        raise
