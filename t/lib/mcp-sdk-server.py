#!/usr/bin/env python3
"""An MCP server built with the official Python SDK (the PyPI package
"mcp", 2.x), for t/024-mcp-sdk.t: the module's client against the
SDK's Streamable HTTP transport (SSE answers, sessions, its own
protocol version negotiation).

  mcp-sdk-server.py [--json] [--parent PID]    prints "READY <port>"
"""

import argparse
import asyncio
import logging
import os
import socket
import threading
import time

import uvicorn
from mcp.server.mcpserver import MCPServer

srv = MCPServer("sdk")


@srv.tool()
def greet(name: str) -> str:
    """Greet someone by name"""
    return "Hello, %s!" % name


@srv.tool()
def add(a: int, b: int) -> int:
    """Add two integers"""
    return a + b


@srv.tool()
def broken() -> str:
    """Always raises"""
    raise ValueError("nope")


def watch_parent(pid):
    while True:
        time.sleep(1)
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)


async def main(a):
    app = srv.streamable_http_app(json_response=a.json)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    print("READY %d" % port, flush=True)
    await task


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--json", action="store_true")
    p.add_argument("--parent", type=int)
    a = p.parse_args()
    logging.disable(logging.CRITICAL)     # the SDK's logs, tracebacks
    if a.parent:
        threading.Thread(target=watch_parent, args=(a.parent,),
                         daemon=True).start()
    asyncio.run(main(a))
