"""A real Redis Cluster for tests: three masters and, where the machine allows, a replica each,
started from ``redis-server --cluster-enabled yes`` and joined by ``redis-cli --cluster create``.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.helpers import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_support() -> str:
    """Why a cluster cannot be started here ("" when it can)."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        return "redis-server and redis-cli are needed for a Redis Cluster"
    help_text = subprocess.run([cli, "--cluster", "help"], capture_output=True, text=True)
    if "create" not in help_text.stdout + help_text.stderr:
        return "this redis-cli has no --cluster create"
    version = subprocess.run([server, "--version"], capture_output=True, text=True).stdout
    if "v=" in version and int(version.split("v=")[1].split(".")[0]) < 7:
        return f"redis-server {version.split()[2]}: the test needs 7.0 or later (cluster-port)"
    return ""


@dataclass
class Cluster:
    folder: Path
    ports: list[int]
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=5)

    def alive_ports(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def slot_owner(self, slot: int) -> tuple[int, list[int]]:
        """(master port, replica ports) serving ``slot``, as the live nodes agree."""
        for port in self.alive_ports():
            try:
                ranges = self.client(port).execute_command("CLUSTER SLOTS")
            except redis.RedisError:
                continue
            for first, last, master, *replicas in ranges:
                if int(first) <= slot <= int(last):
                    return int(master[1]), [int(r[1]) for r in replicas]
        raise AssertionError(f"no live node knows who serves slot {slot}")

    def masters(self) -> list[int]:
        for port in self.alive_ports():
            ranges = self.client(port).execute_command("CLUSTER SLOTS")
            return sorted({int(master[1]) for _, _, master, *_ in ranges})
        return []

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok and sees the same owner of every slot."""
        owners = set()
        for port in self.alive_ports():
            try:
                if self.client(port).cluster("INFO").get("cluster_state") != "ok":
                    return False
                ranges = self.client(port).execute_command("CLUSTER SLOTS")
            except redis.RedisError:
                return False
            owners.add(tuple(sorted((int(a), int(b), int(m[1])) for a, b, m, *_ in ranges)))
        return len(owners) == 1

    def replicated(self, master: int) -> bool:
        """Every replica of ``master`` has applied everything it wrote."""
        try:
            info = self.client(master).info("replication")
        except redis.RedisError:
            return False
        offset = int(info["master_repl_offset"])
        replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        return bool(replicas) and all(int(r["offset"]) >= offset for r in replicas)

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def running_cluster(replicas: int = 1) -> Iterator[Cluster]:
    """Three masters (and ``replicas`` replicas each) on free ports, cluster_state ok."""
    folder = Path(tempfile.mkdtemp(prefix="bp-cluster-"))
    cluster = Cluster(folder, [_free_port() for _ in range(3 * (1 + replicas))])
    try:
        for port in cluster.ports:
            data = folder / str(port)
            data.mkdir()
            cluster.procs[port] = subprocess.Popen(
                [
                    "redis-server",
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-port", str(_free_port()),
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "1000",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(data),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip

        def answering() -> bool:
            try:
                return all(cluster.client(p).ping() for p in cluster.ports)
            except redis.RedisError:
                return False

        wait_for(answering, 15, what="cluster nodes answering PING")
        created = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in cluster.ports),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr

        def formed() -> bool:
            if not cluster.healthy():
                return False
            ranges = cluster.client(cluster.ports[0]).execute_command("CLUSTER SLOTS")
            return all(len(r) - 3 >= replicas for r in ranges)

        wait_for(formed, 30, interval=0.1, what="cluster_state:ok with every replica attached")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
