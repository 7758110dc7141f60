"""The push benchmark's subscribers: one process holding many SSE connections on asyncio
with raw sockets (a Protocol each, no HTTP library), so that the subscriber side costs a
few microseconds an event and the server, not the client, is what is measured.

    python -m devtools.bench_push.client --port 8001 --path /api/v1/.../stream/ \\
        --subscribers 2500 --out receipts.bin

Each subscriber notes, for every `entries` event whose top score is higher than any it saw
before, that score and the wall-clock time it arrived (the board's leader, the pacer, gains
one point a step, so its score names the step). Once every subscriber has its first event
the process prints `connected N failed M`; it then listens until a line on standard input,
writes its receipts to --out (pairs of doubles: score, time) and prints its CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from array import array

SCORE = b'"score":'


class Subscriber(asyncio.Protocol):
    """One stream: the request out, then events in, told apart by their blank line."""

    def __init__(self, request: bytes, receipts: array, first: asyncio.Future) -> None:
        self.request = request
        self.receipts = receipts
        self.first = first
        self.buffer = b""
        self.best = -1
        self.answered = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer + data
        if not self.answered:
            if len(buffer) < 12:
                self.buffer = buffer
                return
            self.answered = True
            if not buffer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                self.first.set_exception(ConnectionError(buffer[:80].decode(errors="replace")))
                if self.transport is not None:
                    self.transport.close()
                return
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            at = buffer.find(SCORE, start, end)
            if at >= 0:
                digits = at + len(SCORE)
                score = int(buffer[digits : buffer.find(b"}", digits, end)])
                if score > self.best:
                    if self.best >= 0:
                        self.receipts.append(score)
                        self.receipts.append(now)
                    self.best = score
                if not self.first.done():
                    self.first.set_result(True)
            start = end + 2
        self.buffer = buffer[start:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first.done():
            self.first.set_exception(exc or ConnectionError("closed before its first event"))


async def subscribe_all(
    port: int, path: str, count: int, receipts: array, *, at_once: int = 100
) -> tuple[list[Subscriber], int]:
    """Open `count` streams, `at_once` connecting at a time; returns those that got their
    first event and how many failed."""
    loop = asyncio.get_running_loop()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    gate = asyncio.Semaphore(at_once)
    opened: list[Subscriber] = []

    async def one() -> bool:
        async with gate:
            first = loop.create_future()
            try:
                _, subscriber = await loop.create_connection(
                    lambda: Subscriber(request, receipts, first), "127.0.0.1", port
                )
                await asyncio.wait_for(first, 60)
            except (OSError, TimeoutError, ConnectionError):
                return False
            opened.append(subscriber)
            return True

    results = await asyncio.gather(*(one() for _ in range(count)))
    return opened, results.count(False)


async def main(args: argparse.Namespace) -> None:
    receipts = array("d")
    opened, failed = await subscribe_all(args.port, args.path, args.subscribers, receipts)
    print(f"connected {len(opened)} failed {failed}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    with open(args.out, "wb") as out:
        receipts.tofile(out)
    for subscriber in opened:
        if subscriber.transport is not None:
            subscriber.transport.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"cpu {usage.ru_utime + usage.ru_stime:.3f}", flush=True)


def raise_open_file_limit() -> int:
    """The soft limit on open files raised to the hard one; returns it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m devtools.bench_push.client")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--subscribers", type=int, required=True)
    parser.add_argument("--out", required=True)
    raise_open_file_limit()
    asyncio.run(main(parser.parse_args()))
