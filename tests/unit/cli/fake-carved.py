#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A tiny stand-in for carved, for the CLI's unit tests: speaks the REST contract of
docs/api/README.md on a unix socket, with canned state, and logs every request as one JSON line.

usage: fake-carved.py SOCKET LOGFILE

SIGUSR1 resets the state and the log and then creates SOCKET.ready, so one fake serves many tests.

It exits by itself when its parent dies or after 300 seconds, so a crashed test leaves nothing
behind."""
import copy
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time

SOCK, LOG = sys.argv[1], sys.argv[2]
READY = SOCK + ".ready"
PARENT = os.getppid()
LOCK = threading.Lock()

INITIAL_SERVERS = {
    "web0": {"id": "0" * 32, "name": "web0", "tenant": "acme", "kind": "container",
             "template": "debian", "vcpus": 1, "memory": 512 << 20, "disk": 2 << 30,
             "disk_used": 300 << 20, "pool": "default", "state": "running",
             "state_reason": None, "init_pid": 4242, "created_at": "2026-01-01T00:00:00Z",
             "updated_at": "2026-01-01T00:00:00Z"},
}
INITIAL_POOLS = {
    "default": {"name": "default", "driver": "reflink", "kind": "image",
                "path": "/var/lib/carve/pools/default", "physical": 64 << 30,
                "allocated": 3 << 30, "provisioned": 10 << 30, "volumes": 3, "overcommit": 1.5,
                "available": 86 << 30, "fill_threshold": 0.8},
}
EVENTS = [{"id": 2, "at": "2026-01-02T00:00:00Z", "kind": "pool.fill", "object": "pool/default",
           "message": "pool 'default' is 81% full"},
          {"id": 1, "at": "2026-01-01T00:00:00Z", "kind": "pool.fill", "object": "pool/default",
           "message": "pool 'default' is 80% full"}]
servers = {}
snapshots = {}
pools = {}
volumes = {}
tasks = {}
n_tasks = 0


def reset(*_):
    """SIGUSR1: back to the initial state with an empty log, then say so with READY."""
    global n_tasks
    with LOCK:
        servers.clear()
        servers.update(copy.deepcopy(INITIAL_SERVERS))
        snapshots.clear()
        pools.clear()
        pools.update(copy.deepcopy(INITIAL_POOLS))
        volumes.clear()
        tasks.clear()
        n_tasks = 0
        open(LOG, "w").close()
        open(READY, "w").close()


def watchdog():
    start = time.monotonic()
    while True:
        if os.getppid() != PARENT or time.monotonic() - start > 300:
            try:
                os.unlink(SOCK)
            except OSError:
                pass
            os._exit(0)
        time.sleep(0.2)


def new_task(kind, obj, fail=None):
    global n_tasks
    n_tasks += 1
    tid = "%032x" % (0xabc000 + n_tasks)
    tasks[tid] = {"id": tid, "kind": kind, "object": obj, "tenant": "acme", "state": "running",
                  "progress": {"done": 0, "total": 4 << 20, "unit": "bytes"}, "error": None,
                  "created_at": "2026-01-01T00:00:00Z", "started_at": None, "finished_at": None,
                  "polls": 0, "fail": fail}
    return tid


def public(task):
    return {k: v for k, v in task.items() if k not in ("polls", "fail")}


def error(status, code, message, field=None):
    e = {"code": code, "message": message}
    if field:
        e["field"] = field
    return status, {"error": e}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"_raw": raw.decode(errors="replace")}
        auth = self.headers.get("Authorization")
        with LOCK:
            with open(LOG, "a") as f:
                f.write(json.dumps({"method": method, "path": self.path, "auth": auth,
                                    "body": body}) + "\n")
            status, answer = self.route(method, self.path, body or {}, auth)
        data = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, method, path, body, auth):
        if not path.startswith("/api/v1/"):
            return error(404, "not_found", "no such endpoint")
        path = path[len("/api/v1"):]
        path, _, query = path.partition("?")
        parts = path.strip("/").split("/")
        if (method, path) == ("POST", "/login"):
            if body.get("user") == "alice" and body.get("password") == "pw":
                return 200, {"secret": "s3cret", "expires_at": "2026-02-01T00:00:00Z",
                             "user": {"name": "alice", "tenant": "acme", "role": "owner"}}
            return error(401, "unauthenticated", "wrong user name or password")
        if (method, path) == ("POST", "/logout"):
            return 204, None
        if (method, path) == ("GET", "/whoami"):
            if auth == "Bearer s3cret":
                return 200, {"user": {"name": "alice"}, "tenant": "acme", "role": "owner",
                             "via": "session"}
            if auth:
                return error(401, "unauthenticated", "bad credentials")
            return 200, {"user": None, "tenant": None, "role": "admin", "via": "unix"}
        if (method, path) == ("GET", "/tenants"):
            return 200, [{"name": "acme", "description": "ACME\x1b[31m Corp", "uid_base": 100000,
                          "created_at": "2026-01-01T00:00:00Z"}]
        if (method, path) == ("GET", "/servers"):
            return 200, {"servers": list(servers.values())}
        if (method, path) == ("POST", "/servers"):
            name = body.get("name")
            if name in servers:
                return error(409, "conflict", "server '%s' already exists" % name)
            fail = "template '%s': image missing" % body["template"] \
                if body.get("template") == "broken" else None
            s = dict(servers["web0"], name=name, state="stopped", template=body.get("template"),
                     vcpus=body.get("vcpus", 1), memory=body.get("memory", 256 << 20))
            servers[name] = s
            tid = new_task("server.create", name, fail)
            return 202, {"server": s, "task": public(tasks[tid])}
        if len(parts) >= 2 and parts[0] == "servers":
            s = servers.get(parts[1])
            if not s:
                return error(404, "not_found", "no such server")
            if len(parts) >= 3 and parts[2] == "snapshots":
                return self.snapshot(method, parts, s, body)
            if len(parts) == 2 and method == "GET":
                return 200, {"server": s}
            if len(parts) == 2 and method == "PATCH":
                s.update(body)
                return 200, s
            if len(parts) == 2 and method == "DELETE":
                if s["state"] != "stopped":
                    return error(409, "conflict", "server '%s' is %s" % (s["name"], s["state"]))
                tid = new_task("server.delete", s["name"])
                return 202, {"task": public(tasks[tid])}
            if len(parts) == 3 and method == "POST" and parts[2] in ("start", "stop"):
                want = "running" if parts[2] == "start" else "stopped"
                if s["state"] == want:
                    return error(409, "conflict", "server '%s' is %s" % (s["name"], s["state"]))
                s["state"] = want
                tid = new_task("server." + parts[2], s["name"])
                return 202, {"task": public(tasks[tid])}
        if parts[0] == "pools":
            return self.pool(method, parts, body)
        if parts[0] == "volumes":
            return self.volume(method, parts, body)
        if (method, path) == ("GET", "/events"):
            limit = int(query.partition("limit=")[2] or 100) if "limit=" in query else 100
            return 200, EVENTS[:limit]
        if len(parts) == 2 and parts[0] == "tasks" and method == "GET":
            t = tasks.get(parts[1])
            if not t:
                return error(404, "not_found", "no such task")
            t["polls"] += 1
            t["progress"]["done"] = min(t["progress"]["total"], t["polls"] << 20)
            if t["polls"] >= 3:
                t["state"] = "failed" if t["fail"] else "succeeded"
                if t["fail"]:
                    t["error"] = {"code": "internal", "message": t["fail"]}
            return 200, {"task": public(t)}
        return error(404, "not_found", "no such endpoint")

    def snapshot(self, method, parts, s, body):
        mine = snapshots.setdefault(s["name"], {})
        if len(parts) == 3 and method == "GET":
            return 200, list(mine.values())
        if len(parts) == 3 and method == "POST":
            name = body.get("name")
            if name in mine:
                return error(409, "conflict", "server '%s': snapshot '%s' already exists"
                             % (s["name"], name), "name")
            mine[name] = {"id": "%032x" % (len(mine) + 1), "name": name, "server": s["name"],
                          "size": s["disk_used"], "created_at": "2026-01-03T00:00:00Z"}
            tid = new_task("server.snapshot", "server/%s/snapshot/%s" % (s["name"], name))
            return 202, {"server": s, "task": public(tasks[tid])}
        snap = mine.get(parts[3])
        if not snap:
            return error(404, "not_found", "server '%s': snapshot '%s' not found"
                         % (s["name"], parts[3]))
        if len(parts) == 4 and method == "DELETE":
            del mine[parts[3]]
            return 200, {"ok": True}
        if len(parts) == 5 and method == "POST" and parts[4] == "rollback":
            if s["state"] != "stopped":
                return error(409, "conflict", "server '%s' is %s: stop it before rolling back "
                             "to snapshot '%s'" % (s["name"], s["state"], parts[3]))
            tid = new_task("server.rollback", "server/%s/snapshot/%s" % (s["name"], parts[3]))
            return 202, {"server": s, "task": public(tasks[tid])}
        if len(parts) == 5 and method == "POST" and parts[4] == "clone":
            name = body.get("name")
            if name in servers:
                return error(409, "conflict", "server '%s' already exists" % name, "name")
            n = dict(s, name=name, state="stopped", disk=snap["size"])
            servers[name] = n
            tid = new_task("server.create", "server/%s" % name)
            return 202, {"server": n, "task": public(tasks[tid])}
        return error(404, "not_found", "no such endpoint")

    def pool(self, method, parts, body):
        if len(parts) == 1 and method == "GET":
            return 200, list(pools.values())
        if len(parts) == 1 and method == "POST":
            name = body.get("name")
            if name in pools:
                return error(409, "conflict", "pool '%s' already exists" % name, "name")
            if "size" in body and not isinstance(body["size"], str):
                return error(400, "invalid_argument", "size: a size string", "size")
            p = dict(INITIAL_POOLS["default"], name=name, path=body.get("path", "/img/" + name),
                     kind="directory" if "path" in body else "image",
                     overcommit=body.get("overcommit", 1.0),
                     fill_threshold=body.get("fill_threshold", 0.8))
            pools[name] = p
            return 201, p
        p = pools.get(parts[1])
        if not p:
            return error(404, "not_found", "pool '%s' not found" % parts[1])
        if len(parts) == 2 and method == "GET":
            return 200, p
        if len(parts) == 2 and method == "PATCH":
            p.update(body)
            return 200, p
        if len(parts) == 2 and method == "DELETE":
            del pools[parts[1]]
            return 200, {"ok": True}
        return error(404, "not_found", "no such endpoint")

    def volume(self, method, parts, body):
        if len(parts) == 1 and method == "GET":
            return 200, list(volumes.values())
        if len(parts) == 1 and method == "POST":
            name = body.get("name")
            if name in volumes:
                return error(409, "conflict", "volume '%s' already exists" % name, "name")
            v = {"id": "%032x" % (0xf00 + len(volumes)), "name": name,
                 "tenant": body.get("tenant", "acme"), "pool": body.get("pool", "default"),
                 "size": body.get("size"), "used": 1 << 20, "server": None, "path": None,
                 "created_at": "2026-01-04T00:00:00Z"}
            volumes[name] = v
            return 201, v
        v = volumes.get(parts[1])
        if not v:
            return error(404, "not_found", "volume '%s' not found" % parts[1])
        if len(parts) == 2 and method == "GET":
            return 200, v
        if len(parts) == 2 and method == "PATCH":
            v["size"] = body.get("size", v["size"])
            return 200, v
        if len(parts) == 2 and method == "DELETE":
            if v["server"]:
                return error(409, "conflict", "volume '%s' is attached to server '%s': detach "
                             "it first" % (v["name"], v["server"]))
            del volumes[parts[1]]
            return 200, {"ok": True}
        if len(parts) == 3 and method == "POST" and parts[2] == "attach":
            s = servers.get(body.get("server"))
            if not s:
                return error(404, "not_found", "volume '%s': server '%s' not found"
                             % (v["name"], body.get("server")), "server")
            if s["state"] != "stopped":
                return error(409, "conflict", "volume '%s': server '%s' is %s: stop it first"
                             % (v["name"], s["name"], s["state"]))
            v.update(server=s["name"], path=body.get("path"))
            return 200, v
        if len(parts) == 3 and method == "POST" and parts[2] == "detach":
            if not v["server"]:
                return error(409, "conflict", "volume '%s' is not attached" % v["name"])
            v.update(server=None, path=None)
            return 200, v
        return error(404, "not_found", "no such endpoint")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


threading.Thread(target=watchdog, daemon=True).start()
signal.signal(signal.SIGUSR1, reset)
reset()
srv = Server(SOCK, Handler)
srv.serve_forever()
