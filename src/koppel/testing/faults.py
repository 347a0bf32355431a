"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real peer, driven by the test.

It forwards one request per connection (it answers `Connection: close`) and, by the rates and
switches the test sets, instead: answers 500/502/503/429 (with `Retry-After`), resets the
connection before forwarding, forwards and then cuts the answer short or resets it (the request
did reach the system: the answer is what is lost), adds latency, or is down for a while (every
connection closed at once). It counts what it did, so a test can print and check its figures.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

STATUSES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            429: "Too Many Requests"}
#: what a fault can be: before the request reaches the system, or after (its answer lost)
BEFORE = ("500", "502", "503", "429", "reset")
AFTER = ("truncate", "reset-after")


@dataclass
class Faults:
    """What the proxy does to the next requests; change it at any time."""

    rate: float = 0.0  # share of requests that get a fault
    kinds: tuple[str, ...] = BEFORE + AFTER
    latency: float = 0.0  # seconds added to every forwarded request
    retry_after: int = 1  # seconds a 429/503 asks for
    down_until: float = 0.0  # time.monotonic() until which every connection is closed at once
    seed: int = 7
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def down_for(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds

    @property
    def down(self) -> bool:
        return time.monotonic() < self.down_until


class FaultProxy:
    """`with FaultProxy("http://127.0.0.1:8001") as proxy:` then talk to `proxy.url`."""

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults = faults or Faults()
        self.counts: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # --- the server ----------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()  # its self-pipe is a socket pair: left open, it warns when collected

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.counts["requests"] += 1
            if self.faults.down:
                self.counts["down"] += 1
                _reset(writer)
                return
            fault = self._fault()
            if fault in STATUSES_BY_NAME:
                await self._answer(writer, int(fault))
            elif fault == "reset":
                _reset(writer)
            else:
                await self._forward(request, writer, fault)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.counts["client gone"] += 1
        finally:
            if not writer.is_closing():
                writer.close()

    def _fault(self) -> str | None:
        f = self.faults
        if f.rate <= 0 or f.rng.random() >= f.rate:
            return None
        fault = f.rng.choice(f.kinds)
        self.counts[f"fault {fault}"] += 1
        return fault

    async def _answer(self, writer: asyncio.StreamWriter, status: int) -> None:
        head = (f"HTTP/1.1 {status} {STATUSES[status]}\r\nContent-Type: application/json\r\n"
                f"Retry-After: {self.faults.retry_after}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}")
        writer.write(head.encode())
        await writer.drain()

    async def _forward(self, request: bytes, writer: asyncio.StreamWriter, fault: str | None) -> None:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            up_writer.write(request)
            await up_writer.drain()
            answer = await up_reader.read()
        finally:
            up_writer.close()
        self.counts["forwarded"] += 1
        if fault == "truncate":
            writer.write(answer[: max(1, len(answer) * 2 // 3)])
            await writer.drain()
            _reset(writer)
            return
        if fault == "reset-after":
            _reset(writer)
            return
        writer.write(answer)
        await writer.drain()


STATUSES_BY_NAME = {str(code) for code in STATUSES}


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 request, rewritten to `Connection: close` (one request per connection)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    kept = [line for line in lines[1:] if line and not line.lower().startswith(("connection:", "keep-alive:"))]
    length = next((int(line.split(":", 1)[1]) for line in kept if line.lower().startswith("content-length:")), 0)
    body = await reader.readexactly(length) if length else b""
    rebuilt = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
    return rebuilt + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a broken connection looks to the client."""
    sock = writer.get_extra_info("socket")
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
