#!/usr/bin/env python3
"""
What the reference runtime (bedrock-agentcore's BedrockAgentCoreApp)
answers when the entrypoint returns a value instead of streaming, and
when it raises: the bytes and headers docs/directives.md
(agentcore_response) compares the module's JSON answer with.

Not run by the tests.  In a venv of its own (never at module run time):

    python3 -m venv build/ref-venv
    build/ref-venv/bin/pip install bedrock-agentcore httpx
    build/ref-venv/bin/python unit/vectors/observe_json_answer.py
"""

from importlib.metadata import version

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from starlette.testclient import TestClient


class MaxTokens(Exception):
    pass


def app_returning(fn):
    app = BedrockAgentCoreApp()
    app.entrypoint(fn)
    return TestClient(app, raise_server_exceptions=False)


CASES = [
    ("str", lambda payload: "2 + 1 = 3"),
    ("str, unicode and escapes",
     lambda payload: "h\u00e9llo \u4e16\u754c \U0001F600 a\nb\t\"q\"\\ / \x01"),
    ("dict", lambda payload: {"response": "hi", "status": "success"}),
    ("raises", lambda payload: (_ for _ in ()).throw(MaxTokens("boom"))),
]

print("bedrock-agentcore", version("bedrock-agentcore"))

for name, fn in CASES:
    client = app_returning(fn)
    r = client.post("/invocations", content=b'{"prompt": "x"}',
                    headers={"Accept": "application/json"})
    print("--", name)
    print(r.status_code, "content-type:", r.headers.get("content-type"),
          "content-length:", r.headers.get("content-length"),
          "transfer-encoding:", r.headers.get("transfer-encoding"))
    print(repr(r.content))
