"""Load test of ``openfer serve`` on loopback: status codes and the server's memory before and after.

Starts ``openfer serve`` (uvicorn) in a subprocess with its default limits, sends ``--requests`` POSTs of a
real photo from ``--concurrency`` asyncio/httpx clients at once, and reads the server's VmRSS from
/proc/PID/status before (after a short warm-up) and after. Then ``--slow-uploads`` clients each trickle
a 10 MB body at once (the case that used to bypass the queue limit), and the server's peak RSS (VmHWM)
is read. Passes (exit 0) when every answer is 200 or 503 (413/400 for the slow bodies) and RSS grows by
less than ``--max-growth-mb``.

    python benchmarks/serve_load.py                       # 1,000 requests, concurrency 16, shipped model
    python benchmarks/serve_load.py --requests 100 --detector haar --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO = Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared")) / "photos" / "two_people.jpg"


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of process ``pid`` from /proc/PID/status, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, serve_args: list[str]) -> subprocess.Popen:
    """``openfer serve`` on 127.0.0.1:port, once /health answers."""
    command = [sys.executable, "-m", "openfer", "serve", "--port", str(port), *serve_args]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"openfer serve exited with {server.returncode}: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("openfer serve did not answer /health within 300 s")


async def hammer(url: str, body: bytes, requests: int, concurrency: int) -> collections.Counter:
    """``requests`` POSTs of ``body`` from ``concurrency`` clients at once; the count of each status (or error)."""
    counts: collections.Counter = collections.Counter()
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(session: httpx.AsyncClient) -> None:
        for _ in remaining:
            try:
                response = await session.post(url, content=body, headers={"Content-Type": "image/jpeg"})
                counts[response.status_code] += 1
            except httpx.HTTPError as error:
                counts[type(error).__name__] += 1

    async with httpx.AsyncClient(timeout=120, limits=limits) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return counts


async def slow_uploads(url: str, clients: int, size: int, seconds: float) -> collections.Counter:
    """``clients`` uploads at once, each of ``size`` bytes sent in 64 KB pieces over about ``seconds``."""
    piece = bytes(64 * 1024)
    pieces = size // len(piece)
    counts: collections.Counter = collections.Counter()

    async def body():
        for _ in range(pieces):
            yield piece
            await asyncio.sleep(seconds / pieces)

    async def client(session: httpx.AsyncClient) -> None:
        try:  # no Content-Length: the server has to count the streamed bytes
            response = await session.post(url, content=body(), headers={"Content-Type": "image/jpeg"})
            counts[response.status_code] += 1
        except httpx.HTTPError as error:
            counts[type(error).__name__] += 1

    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=clients)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--slow-uploads", type=int, default=48, help="clients trickling a 10 MB body at once (0: skip)")
    parser.add_argument("--max-growth-mb", type=float, default=50.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args, serve_args = parser.parse_known_args()  # the rest go to openfer serve (--model, --detector, ...)

    body = args.photo.read_bytes()
    port = free_port()
    url = f"http://127.0.0.1:{port}/predict"
    server = start_server(port, serve_args)
    try:
        for _ in range(5):  # warm-up: the first requests allocate the detector's and model's buffers
            httpx.post(url, content=body, headers={"Content-Type": "image/jpeg"}, timeout=120).raise_for_status()
        before = memory_mb(server.pid)
        start = time.perf_counter()
        counts = asyncio.run(hammer(url, body, args.requests, args.concurrency))
        seconds = time.perf_counter() - start
        after = memory_mb(server.pid)
        peak_before_slow = memory_mb(server.pid, "VmHWM")
        slow = asyncio.run(slow_uploads(url, args.slow_uploads, 10 * 1024 * 1024, 5.0)) if args.slow_uploads else collections.Counter()
        peak = memory_mb(server.pid, "VmHWM")
        after_slow = memory_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    figures = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "statuses": {str(k): v for k, v in sorted(counts.items(), key=str)},
        "seconds": round(seconds, 1),
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "rss_growth_mb": round(after - before, 1),
        "slow_uploads": args.slow_uploads,
        "slow_statuses": {str(k): v for k, v in sorted(slow.items(), key=str)},
        "peak_rss_before_slow_mb": round(peak_before_slow, 1),
        "peak_rss_after_slow_mb": round(peak, 1),
        "rss_after_slow_mb": round(after_slow, 1),
    }
    passed = set(counts) <= {200, 503} and set(slow) <= {400, 413, 503} and after - before < args.max_growth_mb
    figures["passed"] = passed
    print(f"# openfer serve load test, {datetime.date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"# command: python benchmarks/serve_load.py {' '.join(sys.argv[1:])}")
    print("| figure | value |\n| --- | --- |")
    for name, value in figures.items():
        print(f"| {name} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
