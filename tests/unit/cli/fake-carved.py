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
             "template": "debian", "vcpus": 1, "memory": 512 << 20, "state": "running",
             "state_reason": None, "init_pid": 4242, "created_at": "2026-01-01T00:00:00Z",
             "updated_at": "2026-01-01T00:00:00Z"},
}
servers = {}
tasks = {}
n_tasks = 0


def reset(*_):
    """SIGUSR1: back to the initial state with an empty log, then say so with READY."""
    global n_tasks
    with LOCK:
        servers.clear()
        servers.update(copy.deepcopy(INITIAL_SERVERS))
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
            if len(parts) == 2 and method == "GET":
                return 200, {"server": s}
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
