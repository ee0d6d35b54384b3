#!/usr/bin/python3
"""A small MCP server for the tests: Streamable HTTP transport
(specification 2025-06-18), Python standard library only.

  mcp-test-server.py --listen 127.0.0.1:0 [--name NAME] [--page-size N]
                     [--parent PID] [--log FILE] [--list-delay-ms MS]

prints "READY <port>" once listening.  Every POST is one JSON-RPC
message:

  initialize                 result + an Mcp-Session-Id header
  notifications/* (no id)    202, no body
  tools/list                 pages of --page-size tools, nextCursor,
                             each after --list-delay-ms
  tools/call                 the tools below
  anything else              JSON-RPC error -32601

A request other than initialize must carry a known Mcp-Session-Id (else
404, as the specification says for an ended session) and an
MCP-Protocol-Version header (else 400).

Tools (NAME is --name):
  echo {text}        "NAME echo: <text> [version V]" as JSON
  echo_sse {text}    the same as an SSE stream, after a progress
                     notification, the response's data split in lines
  add {a, b}         text and structuredContent {"sum": a + b}
  fail               isError: true, text "it failed"
  rpc_error          JSON-RPC error -32000 "the tool broke"
  slow {ms}          answers "slept <ms>" after ms milliseconds
  big {bytes}        that many "x"s
  headers            "auth=<Authorization> cookie=<Cookie> x=<X-Request-Id>"
  change             "changed", as SSE after a tools/list_changed
  forget             ends every session (the next request gets 404)
  bad.name           (listed, a name Bedrock does not take)

A request whose Accept lacks application/json or text/event-stream
gets 406.
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")

OBJ = {"type": "object", "properties": {}}


def schema(**props):
    return {"type": "object",
            "properties": {k: {"type": v} for k, v in props.items()},
            "required": list(props)}


TOOLS = [
    ("echo", "Echo a text", schema(text="string")),
    ("echo_sse", "Echo a text, answered as an event stream",
     schema(text="string")),
    ("add", "Add two numbers", schema(a="number", b="number")),
    ("fail", "Always fails", OBJ),
    ("rpc_error", "Answers a JSON-RPC error", OBJ),
    ("slow", "Answers after ms milliseconds", schema(ms="integer")),
    ("big", "Answers bytes x characters", schema(bytes="integer")),
    ("forget", "Ends every session", OBJ),
    ("headers", "The request headers it saw", OBJ),
    ("change", "Says its tools changed", OBJ),
    ("bad.name", "Not a name Bedrock takes", OBJ),
]


class State:
    sessions = set()
    lock = threading.Lock()
    name = "mcp"
    page = 3
    log = None
    list_delay = 0


def log(entry):
    if State.log:
        with State.lock, open(State.log, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", ctype="application/json",
             headers=None):
        self.send_response(status)
        if body or status != 202:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def reply(self, msg_id, result=None, error=None, sse=False,
              headers=None, note=None):
        msg = {"jsonrpc": "2.0", "id": msg_id}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = result
        if not sse:
            self.send(200, json.dumps(msg).encode(), headers=headers)
            return
        note = note or {"jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {"progressToken": 1, "progress": 1}}
        text = json.dumps(msg, indent=1)
        body = ": stream\r\n\r\nevent: message\r\ndata: " \
            + json.dumps(note) + "\r\n\r\n" \
            + "".join("data: " + line + "\r\n"
                      for line in text.split("\n")) + "\r\n"
        self.send(200, body.encode(), ctype="text/event-stream",
                  headers=headers)

    def do_GET(self):
        # no server-initiated stream here
        self.send(405, b"")

    def do_DELETE(self):
        sid = self.headers.get("Mcp-Session-Id")
        with State.lock:
            State.sessions.discard(sid)
        self.send(200, b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            msg = json.loads(raw)
        except ValueError:
            self.send(400, b'{"error":"not JSON"}')
            return

        method = msg.get("method")
        msg_id = msg.get("id")
        sid = self.headers.get("Mcp-Session-Id")
        version = self.headers.get("MCP-Protocol-Version")
        log({"method": method, "session": sid is not None,
             "version": version, "accept": self.headers.get("Accept"),
             "ctype": self.headers.get("Content-Type"),
             "authorization": self.headers.get("Authorization"),
             "params": msg.get("params")})

        accept = self.headers.get("Accept") or ""
        if "application/json" not in accept \
                or "text/event-stream" not in accept:
            self.send(406, b'{"error":"Accept"}')
            return

        if method == "initialize":
            asked = (msg.get("params") or {}).get("protocolVersion")
            sid = uuid.uuid4().hex
            with State.lock:
                State.sessions.add(sid)
            self.reply(msg_id, {
                "protocolVersion": asked if asked in VERSIONS
                else VERSIONS[0],
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": State.name, "version": "1.0"}},
                headers={"Mcp-Session-Id": sid})
            return

        with State.lock:
            known = sid in State.sessions
        if not known:
            self.send(404 if sid else 400,
                      b'{"jsonrpc":"2.0","error":{"code":-32001,'
                      b'"message":"Session not found"}}')
            return
        if version not in VERSIONS:
            self.send(400, b'{"error":"MCP-Protocol-Version"}')
            return

        if msg_id is None:
            self.send(202)
            return

        if method == "tools/list":
            time.sleep(State.list_delay / 1000.0)
            cursor = (msg.get("params") or {}).get("cursor")
            start = int(cursor) if cursor else 0
            page = TOOLS[start:start + State.page]
            result = {"tools": [{"name": t[0], "description": t[1],
                                 "inputSchema": t[2]} for t in page]}
            if start + State.page < len(TOOLS):
                result["nextCursor"] = str(start + State.page)
            self.reply(msg_id, result)
            return

        if method == "tools/call":
            params = msg.get("params") or {}
            self.call(msg_id, params.get("name"),
                      params.get("arguments") or {}, version)
            return

        self.reply(msg_id, error={"code": -32601,
                                  "message": "Method not found"})

    def call(self, msg_id, name, args, version):
        def text(t, **extra):
            r = {"content": [{"type": "text", "text": t}]}
            r.update(extra)
            return r

        if name in ("echo", "echo_sse"):
            self.reply(msg_id, text("%s echo: %s [version %s]"
                                    % (State.name, args.get("text"),
                                       version)),
                       sse=(name == "echo_sse"))
        elif name == "add":
            s = args.get("a", 0) + args.get("b", 0)
            self.reply(msg_id, text(str(s), structuredContent={"sum": s}))
        elif name == "fail":
            self.reply(msg_id, text("it failed", isError=True))
        elif name == "rpc_error":
            self.reply(msg_id, error={"code": -32000,
                                      "message": "the tool broke"})
        elif name == "slow":
            time.sleep(int(args.get("ms", 0)) / 1000.0)
            self.reply(msg_id, text("slept %s" % args.get("ms")))
        elif name == "big":
            self.reply(msg_id, text("x" * int(args.get("bytes", 0))))
        elif name == "headers":
            self.reply(msg_id, text("auth=%s cookie=%s x=%s" % (
                self.headers.get("Authorization"),
                self.headers.get("Cookie"),
                self.headers.get("X-Request-Id"))))
        elif name == "change":
            self.reply(msg_id, text("changed"), sse=True,
                       note={"jsonrpc": "2.0",
                             "method": "notifications/tools/list_changed"})
        elif name == "forget":
            with State.lock:
                State.sessions.clear()
            self.reply(msg_id, text("forgotten"))
        else:
            self.reply(msg_id, error={"code": -32602,
                                      "message": "Unknown tool: %s" % name})


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # a client that went away (a timeout, a response too large for
        # it) is no error of the server's
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def watch_parent(pid):
    while True:
        time.sleep(1)
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--name", default="mcp")
    p.add_argument("--page-size", type=int, default=3)
    p.add_argument("--parent", type=int)
    p.add_argument("--log")
    p.add_argument("--list-delay-ms", type=int, default=0)
    a = p.parse_args()

    State.name = a.name
    State.page = a.page_size
    State.log = a.log
    State.list_delay = a.list_delay_ms

    host, port = a.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    srv.daemon_threads = True

    if a.parent:
        threading.Thread(target=watch_parent, args=(a.parent,),
                         daemon=True).start()

    print("READY %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
