"""capture-otlp throughput: real Claude Code export bodies POSTed over loopback to a real receiver.

Starts ``python -m blueplane_capture.otlp`` as its own process (private redis-server, throwaway
BLUEPLANE_HOME), then sends a bounded number of requests on keep-alive connections, alternating
the recorded logs and metrics bodies (formats.md 3.2: JSON, chunked, as Claude Code 2.1.197 sends
them; or protobuf with --protobuf). Every 200 means the events were XADDed first, so events/s is
end to end up to the bus. Prints requests/s, events/s and per-request latency P50/P95.

    python bench/otlp.py                 # small default (a few seconds)
    python bench/otlp.py --requests 5000 --clients 2 --protobuf
    python bench/otlp.py --hold 12       # 12 connections each holding an unfinished 32 MB body

``--hold N`` measures the bound across connections instead (issue 12): N connections each
announce a 32 MB body and send 24 MB of it, then stop; printed are the receiver's peak RSS
before and while they hold, and how many were answered early (503: over the memory bound).
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import peak_rss_mb, percentile, private_pipeline_home
from blueplane_core import streams

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real"
BODIES = FIXTURES / "claude_code_live" / "otlp_http_json" / "B_tools"


def load_bodies(protobuf: bool) -> list[tuple[str, bytes]]:
    bodies = [
        ("/v1/logs", (BODIES / "0001_v1_logs.json").read_bytes()),
        ("/v1/metrics", (BODIES / "0002_v1_metrics.json").read_bytes()),
    ]
    if not protobuf:
        return bodies
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    kinds: dict[str, type[Any]] = {
        "/v1/logs": logs_service_pb2.ExportLogsServiceRequest,
        "/v1/metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    }
    return [
        (
            path,
            json_format.Parse(body, kinds[path](), ignore_unknown_fields=True).SerializeToString(),
        )
        for path, body in bodies
    ]


def client_loop(
    port: int,
    bodies: list[tuple[str, bytes]],
    count: int,
    protobuf: bool,
    latencies: list[float],
    failures: list[int],
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    content_type = "application/x-protobuf" if protobuf else "application/json"
    for i in range(count):
        path, body = bodies[i % len(bodies)]
        start = time.perf_counter()
        if protobuf:
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        else:  # chunked, like the real client
            conn.request(
                "POST",
                path,
                body=iter([body]),
                encode_chunked=True,
                headers={"Content-Type": content_type},
            )
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            failures.append(response.status)
    conn.close()


def hold_connections(port: int, pid: int, count: int) -> None:
    """Open ``count`` connections that each send 24 MB of an announced 32 MB body and stop."""
    announced, sent_mb = 32 * 1024 * 1024, 24
    before = peak_rss_mb(pid)
    socks = []
    answered = 0
    piece = b" " * (1024 * 1024)
    start = time.perf_counter()
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(
            b"POST /v1/logs HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {announced}\r\n\r\n".encode()
        )
        sock.settimeout(2.0)
        for _ in range(sent_mb):
            try:
                sock.sendall(piece)
            except OSError:  # the receiver stopped reading (answered and closed, or full)
                break
        sock.settimeout(0.0)
        socks.append(sock)
    time.sleep(1.0)  # let the receiver take in what the kernel buffered (a measurement pause)
    for sock in socks:
        try:
            answered += bool(sock.recv(64))
        except (BlockingIOError, OSError):
            pass
    held = peak_rss_mb(pid)
    for sock in socks:
        sock.close()
    print(f"otlp receiver: {count} connections each holding 24 MB of an unfinished 32 MB body")
    print(f"  receiver RSS    {before:.1f} MB peak before, {held:.1f} MB peak while held")
    print(f"  answered early  {answered} of {count}   ({time.perf_counter() - start:.1f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests in total (bounded)")
    parser.add_argument("--clients", type=int, default=1, help="concurrent keep-alive clients")
    parser.add_argument("--protobuf", action="store_true", help="send http/protobuf bodies")
    parser.add_argument("--hold", type=int, default=0, help="connections holding unfinished bodies")
    args = parser.parse_args()
    bodies = load_bodies(args.protobuf)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with private_pipeline_home() as (_home, url):
        env = dict(
            os.environ,
            BLUEPLANE_CAPTURE_OTLP_PORT=str(port),
            PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        )
        proc = subprocess.Popen([sys.executable, "-m", "blueplane_capture.otlp"], env=env)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("receiver did not start") from None
                    time.sleep(0.05)
            if args.hold:
                hold_connections(port, proc.pid, args.hold)
                return
            latencies: list[float] = []
            failures: list[int] = []
            per_client = max(1, args.requests // args.clients)
            threads = [
                threading.Thread(
                    target=client_loop,
                    args=(port, bodies, per_client, args.protobuf, latencies, failures),
                )
                for _ in range(args.clients)
            ]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start
            events = redis.Redis.from_url(url).xlen(streams.EVENTS_STREAM)
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(15)
    done = per_client * args.clients
    print(
        f"otlp receiver ({'protobuf' if args.protobuf else 'json, chunked'}, "
        f"{args.clients} client(s), {done} requests)"
    )
    print(f"  requests/s      {done / elapsed:10.1f}")
    print(f"  events/s        {events / elapsed:10.1f}   ({events} events XADDed)")
    print(
        f"  latency ms      P50 {percentile(latencies, 0.5):.2f}  "
        f"P95 {percentile(latencies, 0.95):.2f}"
    )
    print(f"  receiver RSS    {rss:.1f} MB peak;  non-200 answers: {len(failures)}")


if __name__ == "__main__":
    main()
