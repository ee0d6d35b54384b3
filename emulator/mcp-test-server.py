#!/usr/bin/python3
"""A small MCP server for the tests: Streamable HTTP transport
(specification 2025-06-18), Python standard library only.

  mcp-test-server.py --listen 127.0.0.1:0 [--name NAME] [--page-size N]
                     [--parent PID] [--log FILE] [--list-delay-ms MS]
                     [--sigv4 AKID:SECRET [--sigv4-region R]
                      [--sigv4-token TOKEN]] [--bearer TOKEN]
                     [--oauth CLIENT_ID:SECRET]

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
  rich               text, structuredContent and its serialization
                     (as the specification asks), an image (a 1x1 PNG),
                     audio, an embedded JSON resource
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

With --sigv4, as AgentCore Gateway with IAM inbound authorization:
every POST must carry an Authorization of SigV4 (AWS4-HMAC-SHA256) for
that key, service "bedrock-agentcore" and the region (default
us-east-1), signing host and x-amz-date (and x-amz-security-token, equal
to --sigv4-token, when that is given), whose signature the server
computes again from the request as received; else 403 with the reason.
The "headers" tool then also says "date=<X-Amz-Date>
token=<X-Amz-Security-Token>".

With --bearer, every POST must carry "Authorization: Bearer TOKEN", else
401.

With --oauth, an OAuth 2.0 authorization server too (RFC 6749 4.4, as
Amazon Cognito's /oauth2/token): POST /token with the form
grant_type=client_credentials[&scope=S], the client authenticated by
HTTP Basic (client_secret_basic: form-encoded id and secret, base64) or
by client_id and client_secret in the form (client_secret_post); a wrong
client gets 401 {"error": "invalid_client"}, else {"access_token",
"token_type": "Bearer", "expires_in": 3600, or N for a scope holding
"expires-in-N"}.  The MCP endpoint then wants "Authorization: Bearer
T" with a token it issued that has not expired, else 401.  Two more
tools then:
  tokens {scope}     "tokens for SCOPE: N (METHODS)": how many were issued
                     for the scope, and how the client authenticated
  revoke             every token issued so far is refused from now on
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import re
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")

OBJ = {"type": "object", "properties": {}}

# a 1x1 PNG
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDw"
       "ADhgGAWjR9awAAAABJRU5ErkJggg==")


def schema(**props):
    return {"type": "object",
            "properties": {k: {"type": v} for k, v in props.items()},
            "required": list(props)}


TOOLS = [
    ("echo", "Echo a text", schema(text="string")),
    ("echo_sse", "Echo a text, answered as an event stream",
     schema(text="string")),
    ("add", "Add two numbers", schema(a="number", b="number")),
    ("rich", "Answers every kind of content", OBJ),
    ("fail", "Always fails", OBJ),
    ("rpc_error", "Answers a JSON-RPC error", OBJ),
    ("slow", "Answers after ms milliseconds", schema(ms="integer")),
    ("big", "Answers bytes x characters", schema(bytes="integer")),
    ("forget", "Ends every session", OBJ),
    ("headers", "The request headers it saw", OBJ),
    ("change", "Says its tools changed", OBJ),
    ("bad.name", "Not a name Bedrock takes", OBJ),
]


OAUTH_TOOLS = [
    ("tokens", "How many tokens were issued for a scope",
     schema(scope="string")),
    ("revoke", "Refuses every token issued so far", OBJ),
]


class State:
    sessions = set()
    lock = threading.Lock()
    name = "mcp"
    page = 3
    log = None
    list_delay = 0
    sigv4 = None            # (akid, secret)
    bearer = None
    region = "us-east-1"
    service = "bedrock-agentcore"
    token = None
    oauth = None            # (client_id, secret)
    issued = {}             # token: expiry (time.time())
    grants = {}             # scope: [methods]


SIGV4_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/"
    r"aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


def hmac256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_check(method, path, headers, body):
    """None when the request is signed as --sigv4 says, else why not"""
    m = SIGV4_AUTH.match(headers.get("Authorization") or "")
    if not m:
        return "no SigV4 Authorization"
    akid, day, region, service, signed, sig = m.groups()
    if akid != State.sigv4[0]:
        return "unknown access key"
    if service != State.service:
        return "service %s, not %s" % (service, State.service)
    if region != State.region:
        return "region %s, not %s" % (region, State.region)
    date = headers.get("X-Amz-Date") or ""
    if not date.startswith(day):
        return "X-Amz-Date does not match the credential's day"
    names = signed.split(";")
    need = ["host", "x-amz-date"]
    if State.token is not None:
        if headers.get("X-Amz-Security-Token") != State.token:
            return "wrong X-Amz-Security-Token"
        need.append("x-amz-security-token")
    for n in need:
        if n not in names:
            return "%s not signed" % n
    canonical = "\n".join([
        method,
        urllib.parse.quote(urllib.parse.urlsplit(path).path,
                           safe="/-_.~"),
        "",
        "".join("%s:%s\n" % (n, " ".join((headers.get(n) or "").split()))
                for n in names),
        signed,
        hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + State.sigv4[1]).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac256(key, part)
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return "the signature does not match"
    return None


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

    def token(self, raw):
        """the token endpoint of --oauth"""
        form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
        one = {k: v[0] for k, v in form.items()}
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                cid, secret = base64.b64decode(auth[6:]).decode() \
                    .split(":", 1)
                cid = urllib.parse.unquote_plus(cid)
                secret = urllib.parse.unquote_plus(secret)
            except ValueError:
                cid, secret = None, None
            method = "basic"
        else:
            cid, secret = one.get("client_id"), one.get("client_secret")
            method = "post"
        if self.headers.get("Content-Type") \
                != "application/x-www-form-urlencoded":
            self.send(400, b'{"error":"invalid_request"}')
            return
        if one.get("grant_type") != "client_credentials":
            self.send(400, b'{"error":"unsupported_grant_type"}')
            return
        if (cid, secret) != State.oauth:
            self.send(401, b'{"error":"invalid_client"}',
                      headers={"WWW-Authenticate": "Basic"})
            return
        scope = one.get("scope", "")
        ttl = 3600
        m = re.search(r"expires-in-(\d+)", scope)
        if m:
            ttl = int(m.group(1))
        tok = "tok-" + uuid.uuid4().hex
        with State.lock:
            State.issued[tok] = time.time() + ttl
            State.grants.setdefault(scope, []).append(method)
        self.send(200, json.dumps({"access_token": tok,
                                   "token_type": "Bearer",
                                   "expires_in": ttl}).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)

        if State.oauth and self.path == "/token":
            self.token(raw)
            return

        try:
            msg = json.loads(raw)
        except ValueError:
            self.send(400, b'{"error":"not JSON"}')
            return

        method = msg.get("method")
        msg_id = msg.get("id")
        sid = self.headers.get("Mcp-Session-Id")
        version = self.headers.get("MCP-Protocol-Version")
        refused = None
        if State.sigv4:
            refused = sigv4_check("POST", self.path, self.headers, raw)
        if State.bearer is not None and refused is None \
                and self.headers.get("Authorization") \
                != "Bearer " + State.bearer:
            self.send(401, b'{"message":"wrong bearer token"}')
            return
        if State.oauth:
            auth = self.headers.get("Authorization") or ""
            with State.lock:
                until = State.issued.get(auth[7:]) \
                    if auth.startswith("Bearer ") else None
            if until is None or until < time.time():
                self.send(401, b'{"message":"invalid token"}',
                          headers={"WWW-Authenticate":
                                   'Bearer error="invalid_token"'})
                return
        log({"method": method, "session": sid is not None,
             "version": version, "accept": self.headers.get("Accept"),
             "ctype": self.headers.get("Content-Type"),
             "authorization": self.headers.get("Authorization"),
             "params": msg.get("params"), "sigv4_refused": refused})

        if refused:
            self.send(403, json.dumps({"message": refused}).encode())
            return

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
            tools = TOOLS + (OAUTH_TOOLS if State.oauth else [])
            page = tools[start:start + State.page]
            result = {"tools": [{"name": t[0], "description": t[1],
                                 "inputSchema": t[2]} for t in page]}
            if start + State.page < len(tools):
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
        elif name == "rich":
            sc = {"city": "Paris", "temperature": {"max": 14, "min": 9}}
            self.reply(msg_id, {"content": [
                {"type": "text", "text": "Forecast for Paris"},
                {"type": "text", "text": json.dumps(sc)},
                {"type": "image", "mimeType": "image/png", "data": PNG},
                {"type": "audio", "mimeType": "audio/wav",
                 "data": "UklGRg=="},
                {"type": "resource", "resource": {
                    "uri": "forecast://paris/hourly",
                    "mimeType": "application/json",
                    "text": json.dumps({"hourly": [12, 13]})}}],
                "structuredContent": sc})
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
            said = "auth=%s cookie=%s x=%s" % (
                self.headers.get("Authorization"),
                self.headers.get("Cookie"),
                self.headers.get("X-Request-Id"))
            if State.sigv4:
                said += " date=%s token=%s" % (
                    self.headers.get("X-Amz-Date"),
                    self.headers.get("X-Amz-Security-Token"))
            self.reply(msg_id, text(said))
        elif name == "change":
            self.reply(msg_id, text("changed"), sse=True,
                       note={"jsonrpc": "2.0",
                             "method": "notifications/tools/list_changed"})
        elif name == "tokens" and State.oauth:
            scope = args.get("scope", "")
            with State.lock:
                got = list(State.grants.get(scope, []))
            self.reply(msg_id, text("tokens for %s: %d (%s)"
                                    % (scope, len(got),
                                       " ".join(sorted(set(got))))))
        elif name == "revoke" and State.oauth:
            with State.lock:
                State.issued.clear()
            self.reply(msg_id, text("revoked"))
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


def self_test(case):
    """checks the verifier on a case of AWS's SigV4 test suite (its
    header-signed-request.txt, a POST), then on the same request with a
    byte of its body changed: 0 when it accepts the one and refuses the
    other"""
    import email.message
    with open(os.path.join(case, "header-signed-request.txt"), "rb") as f:
        raw = f.read()
    head, body = raw.split(b"\n\n", 1)
    lines = head.decode().split("\n")
    method, path, _ = lines[0].split(" ")
    headers = email.message.Message()
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k] = v
    m = SIGV4_AUTH.match(headers["Authorization"])
    State.sigv4 = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    State.region, State.service = m.group(3), m.group(4)
    good = sigv4_check(method, path, headers, body)
    bad = sigv4_check(method, path, headers, body[:-1] + b"!")
    print("signed: %s; altered: %s" % (good or "accepted", bad))
    return 0 if good is None and bad is not None else 1


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
    p.add_argument("--sigv4")
    p.add_argument("--sigv4-region", default="us-east-1")
    p.add_argument("--sigv4-token")
    p.add_argument("--sigv4-self-test", metavar="CASE_DIR")
    p.add_argument("--bearer")
    p.add_argument("--oauth")
    a = p.parse_args()

    if a.sigv4_self_test:
        sys.exit(self_test(a.sigv4_self_test))

    State.bearer = a.bearer

    if a.oauth:
        State.oauth = tuple(a.oauth.split(":", 1))

    if a.sigv4:
        State.sigv4 = tuple(a.sigv4.split(":", 1))
        State.region = a.sigv4_region
        State.token = a.sigv4_token

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
