"""A small HTTP/1.1 load generator on keep-alive connections (asyncio, uvloop when installed).

``closed(...)``: N connections each sending the next request as soon as the previous answer is
in (saturation). ``open_rate(...)``: requests scheduled at a fixed rate whatever the answers do;
a request's latency counts from its scheduled time, so queueing behind a slow answer is
measured, not hidden (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover - it comes with uvicorn[standard]
    uvloop = None


def request_bytes(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One POST with a body, as bytes on the wire."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _closed(
    host: str, port: int, request: bytes, connections: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            status = await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - t)
            errors += status >= 300
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return _summary(latencies, errors, elapsed)


async def _open(
    host: str, port: int, request: bytes, rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    counter = iter(range(total))
    t0 = time.perf_counter() + 0.2

    async def one() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        for i in counter:
            due = t0 + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            status = await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - due)
            errors += status >= 300
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    result = _summary(latencies, errors, elapsed)
    result["offered_per_s"] = rate
    return result


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    from benchlib import percentile

    ms = [x * 1000 for x in latencies]
    return {
        "requests": len(ms),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_s": len(ms) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else float("nan"),
    }


def _run(coro: Any) -> dict[str, Any]:
    if uvloop is not None:
        return uvloop.run(coro)  # type: ignore[no-any-return]
    return asyncio.run(coro)  # type: ignore[no-any-return]


def closed(
    host: str, port: int, request: bytes, *, connections: int = 32, seconds: float = 5
) -> dict[str, Any]:
    """Saturation: ``connections`` connections, back to back, for ``seconds``."""
    return _run(_closed(host, port, request, connections, seconds))


def open_rate(
    host: str, port: int, request: bytes, *, rate: float, seconds: float = 5, connections: int = 64
) -> dict[str, Any]:
    """A fixed offered load of ``rate`` requests/s for ``seconds``."""
    return _run(_open(host, port, request, rate, seconds, connections))


async def _tiny_server(port: int) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(self.buf) < end + 4 + length:
                    return
                self.buf = self.buf[end + 4 + length :]
                self.t.write(answer)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port)
    await server.serve_forever()


def tiny_server(port: int) -> None:
    """A minimal HTTP responder (no framework): what the generator's own ceiling is measured
    against."""
    _run(_tiny_server(port))
