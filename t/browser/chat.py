#!/usr/bin/env python3
"""The chat page (html/agentcore-chat.html) in headless Chromium.

Starts `make run`'s script (conf/run.sh: the emulator and nginx) on a port
of its own, opens http://127.0.0.1:PORT/chat in Debian's chromium driven
over the DevTools protocol (--remote-debugging-pipe: no WebSocket, no
PyPI package), and checks what a person sees:

  - the answer renders as it streams (the text grows in several steps);
  - a second message continues the same session (the emulator's [[echo]]
    shows the first exchange in the history the model got);
  - a stream_error event and an HTTP error (the runtime's JSON body) show
    as errors;
  - the page loads nothing but itself and /invocations.

Writes a screenshot (--screenshot, default build/browser/chat.png).
Prints "ok"/"not ok" lines and a final "N passed, N failed" line.

    python3 t/browser/chat.py [--port N] [--url http://HOST:PORT]
                              [--screenshot FILE] [--keep]
"""

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Tap:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        if cond:
            self.passed += 1
            print("ok - %s" % name)
        else:
            self.failed += 1
            print("not ok - %s" % name)
            if diag is not None:
                for line in str(diag).splitlines() or [""]:
                    print("#   %s" % line)
        sys.stdout.flush()
        return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class Browser:
    """Chromium over --remote-debugging-pipe: JSON messages ended by NUL
    on fd 3 (to the browser) and fd 4 (from it)."""

    def __init__(self, binary, width, height):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="agentcore-chromium-")

        def child():
            # out of the way of 3 and 4 first, whatever numbers they had
            r = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
             "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--mute-audio",
             "--window-size=%d,%d" % (width, height), "about:blank"],
            preexec_fn=child, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        end = time.time() + timeout
        while True:
            m = self.read(end - time.time())
            if m is None:
                raise RuntimeError("no answer to %s" % method)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def read(self, timeout):
        while b"\0" not in self.buf:
            if timeout <= 0:
                return None
            r, _, _ = select.select([self.from_r], [], [], timeout)
            if not r:
                return None
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def wait_event(self, method, timeout=30):
        end = time.time() + timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(i)
            m = self.read(end - time.time())
            if m is None:
                raise RuntimeError("no %s" % method)
            self.events.append(m)

    def js(self, expr, timeout=30):
        r = self.send("Runtime.evaluate",
                      {"expression": expr, "awaitPromise": True,
                       "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise RuntimeError("JS: %s" % json.dumps(r["exceptionDetails"]))
        return r["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


# sends a message as a person would (types, presses Enter) and samples
# the answer bubble every few ms until the page is idle again
SEND_JS = r"""
(async (text) => {
  const p = document.getElementById("prompt");
  p.value = text;
  p.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
  const seen = [];
  const t0 = performance.now();
  await new Promise(r => setTimeout(r, 0));
  while (document.body.dataset.state !== "idle") {
    const a = [...document.querySelectorAll(".msg.assistant")].pop();
    const t = a ? a.textContent : "";
    if (!seen.length || seen[seen.length - 1] !== t) seen.push(t);
    if (performance.now() - t0 > 20000) break;
    await new Promise(r => setTimeout(r, 5));
  }
  const msgs = [...document.querySelectorAll("#messages > *")].map(e => ({
    cls: e.className, label: (e.querySelector(".label") || {}).textContent || "",
    text: e.lastChild ? e.lastChild.textContent : ""}));
  return {seen, msgs, session: document.getElementById("session").value,
          state: document.body.dataset.state};
})(%s)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--url", help="a running make run (else one is started)")
    ap.add_argument("--screenshot",
                    default=os.path.join(ROOT, "build", "browser", "chat.png"))
    ap.add_argument("--chromium", default=shutil.which("chromium")
                    or "/usr/bin/chromium")
    ap.add_argument("--keep", action="store_true",
                    help="leave make run running")
    a = ap.parse_args()

    tap = Tap()
    run = None
    out = None

    if a.url:
        base = a.url.rstrip("/")
    else:
        port = a.port or free_port()
        base = "http://127.0.0.1:%d" % port
        env = dict(os.environ, AGENTCORE_PORT=str(port),
                   AGENTCORE_EMULATOR_DELAY_MS="40",
                   ROOT=ROOT, NGINX_BIN=os.environ.get("NGINX", "/usr/sbin/nginx"),
                   MODULE_SO=os.path.join(ROOT, "build",
                                          "ngx_http_agentcore_module.so"))
        env.pop("AGENTCORE_BEDROCK_URL", None)
        env.pop("AGENTCORE_LISTEN", None)
        out = tempfile.NamedTemporaryFile(prefix="agentcore-run-", suffix=".log",
                                          delete=False)
        run = subprocess.Popen([os.path.join(ROOT, "conf", "run.sh")],
                               env=env, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)

    browser = None
    try:
        if not tap.ok(wait_http(base + "/ping", 30), "make run is up on " + base,
                      open(out.name).read() if out else None):
            return 1

        t0 = time.time()
        browser = Browser(a.chromium, 1000, 720)
        tgt = browser.send("Target.createTarget", {"url": "about:blank"},
                           session=False)
        browser.session = browser.send(
            "Target.attachToTarget",
            {"targetId": tgt["targetId"], "flatten": True},
            session=False)["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Network.enable"):
            browser.send(m)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1000, "height": 720, "deviceScaleFactor": 1,
                      "mobile": False})
        browser.send("Page.navigate", {"url": base + "/chat"})
        browser.wait_event("Page.loadEventFired")
        tap.ok(True, "chromium loaded /chat (%.1fs)" % (time.time() - t0))

        title = browser.js("document.title")
        tap.ok(title == "AgentCore chat", "the page's title", title)
        sid = browser.js("document.getElementById('session').value")
        tap.ok(isinstance(sid, str) and 33 <= len(sid) <= 256,
               "a session id of 33 to 256 characters: %s" % sid, sid)

        # the page's SSE parser on chunks split anywhere (a CRLF across
        # two reads, multi-line data, a comment, an "event: error"), its
        # error texts, and how it shows a non-text event (a tool call)
        r = browser.js(r"""(() => {
          const ev = [];
          const p = sseParser((e, d) => ev.push([e, d]));
          for (const c of ['data: "a"\r', '\n\r\ndata: 1\n',
                           'data: 2\n\n: hb\n\nevent: error\ndata: {"error":"x"}\n\n',
                           'data: tail']) p.push(c);
          showEvent({current_tool_use: {name: "calculator",
                                        input: {expression: "2+1"}}});
          const tool = [...document.querySelectorAll(".event strong")].pop().textContent;
          messages.textContent = "";
          return {ev, pending: p.pending(), tool,
                  errs: [errorText('{"error":"Invalid JSON","details":"x y"}'),
                         errorText('{"message":"No runtime"}'),
                         errorText('<html><head><title>502 Bad Gateway</title></head></html>'),
                         errorText('')]};
        })()""")
        tap.ok(r["ev"] == [["", '"a"'], ["", "1\n2"], ["error", '{"error":"x"}']]
               and r["pending"] is True,
               "the page's SSE parser: events across reads, an unfinished one pending",
               json.dumps(r))
        tap.ok(r["errs"] == ["Invalid JSON: x y", "No runtime", "502 Bad Gateway",
                             "(no body)"],
               "error bodies: the runtime's, AWS's, an HTML page, none",
               json.dumps(r["errs"]))
        tap.ok(r["tool"] == "tool call: calculator",
               "a tool event in the stream is shown as a tool call", r["tool"])

        # 1. the answer as it streams
        r = browser.js(SEND_JS % json.dumps("How much is 2+1"))
        want = "Let me use the calculator tool.The answer is Result: 3."
        tap.ok(r["msgs"][-1]["text"] == want and "assistant" in r["msgs"][-1]["cls"],
               "the streamed answer is shown", json.dumps(r, indent=1))
        partial = [s for s in r["seen"] if s and s != want]
        tap.ok(len(partial) >= 3 and all(want.startswith(s) for s in partial),
               "it grew as it streamed (%d partial states)" % len(partial),
               json.dumps(r["seen"], indent=1))

        r = browser.js(SEND_JS % json.dumps("What's the weather like?"))
        tap.ok(r["msgs"][-1]["text"]
               == "Let me use the weather tool.The answer is sunny.",
               "a second answer in the same page", json.dumps(r["msgs"][-1]))

        # 2. the same session continues: the model got the first exchanges
        r = browser.js(SEND_JS % json.dumps("[[echo]]"))
        try:
            hist = json.loads(r["msgs"][-1]["text"])["messages"]
        except Exception:
            hist = None
        texts = [(h["role"], c.get("text")) for h in hist or []
                 for c in h["content"] if "text" in c]
        tap.ok(hist is not None and texts[0] == ("user", "How much is 2+1")
               and ("user", "What's the weather like?") in texts
               and texts[-1] == ("user", "[[echo]]") and r["session"] == sid,
               "a later message continues the session (the history has the "
               "earlier ones)", json.dumps(r["msgs"][-1], indent=1))

        # 3. New: another session id, an empty history, an empty page
        browser.js("document.getElementById('new-session').click()")
        sid2 = browser.js("document.getElementById('session').value")
        r = browser.js(SEND_JS % json.dumps("[[echo]]"))
        try:
            n = len(json.loads(r["msgs"][-1]["text"])["messages"])
        except Exception:
            n = None
        tap.ok(sid2 != sid and len(sid2) >= 33 and n == 1 and len(r["msgs"]) == 2,
               "New: another session id, an empty history", (sid2, n))
        browser.js("document.getElementById('new-session').click()")

        # 4. a stream_error event mid-stream: the partial text, then the error
        browser.js(SEND_JS % json.dumps("How much is 2+1"))
        browser.js(SEND_JS % json.dumps("What's the weather like?"))
        r = browser.js(SEND_JS % json.dumps(
            "[[exception type=validationException message=\"The model refused\"]] Hi"))
        m = r["msgs"]
        tap.ok(m[-2]["text"] == "Partial answer " and m[-1]["cls"] == "msg error"
               and m[-1]["label"] == "stream error"
               and "The model refused" in m[-1]["text"],
               "a stream_error event shows as an error after the partial text",
               json.dumps(m[-2:], indent=1))

        # 5. an HTTP error: the runtime's JSON error body
        sid3 = browser.js("document.getElementById('session').value")
        browser.js("""(() => { const s = document.getElementById('session');
                       s.value = 'too-short';
                       s.dispatchEvent(new Event('change')); })()""")
        r = browser.js(SEND_JS % json.dumps("Hello"))
        m = r["msgs"]
        tap.ok(m[-1]["cls"] == "msg error" and m[-1]["label"] == "HTTP 400 Bad Request"
               and m[-1]["text"].startswith("Invalid session id: "),
               "an HTTP error shows its status and the runtime's error body",
               json.dumps(m[-2:], indent=1))
        browser.js("""(() => { const s = document.getElementById('session');
                       s.value = %s; s.dispatchEvent(new Event('change')); })()"""
                   % json.dumps(sid3))

        os.makedirs(os.path.dirname(os.path.abspath(a.screenshot)), exist_ok=True)
        shot = browser.send("Page.captureScreenshot", {"format": "png"})
        with open(a.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        tap.ok(os.path.getsize(a.screenshot) > 10000,
               "screenshot written to %s" % a.screenshot)

        # nothing but the page itself and /invocations was fetched
        urls = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
        other = [u for u in urls if not (u == base + "/chat"
                                         or u == base + "/invocations")]
        tap.ok(urls and not other, "no other request (%d made)" % len(urls),
               "\n".join(other))
    except Exception as e:
        tap.ok(False, "the browser session", repr(e))
    finally:
        if browser:
            browser.close()
        if run and not a.keep:
            os.killpg(run.pid, signal.SIGTERM)
            try:
                run.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        if out:
            os.unlink(out.name)

    print("%d passed, %d failed" % (tap.passed, tap.failed))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
