"""A Ray cluster of separate nodes on this machine, loopback only, for the executor tests.

Each node is its own ``ray start --block`` process in its own process group, with its own
temporary folder, so the tests stop exactly the processes they started (never ``ray stop``,
which would stop every Ray instance on the machine). ``ray start`` turns a node address of
127.0.0.1 into the machine's external address; the launcher below keeps 127.0.0.1, so every
node's servers listen on the loopback interface only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAUNCH = ("import sys\n"
          "import ray._private.services as services\n"
          "services.resolve_ip_for_localhost = lambda host: host  # keep 127.0.0.1: loopback only\n"
          "from ray.scripts.scripts import main\n"
          "sys.argv[0] = 'ray'\n"
          "main()\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """A head and ``workers`` worker nodes of ``cpus`` CPUs each; ``address`` is the head's GCS."""

    def __init__(self, workers: int = 1, cpus: int = 1, timeout: float = 120.0) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="r27", dir="/tmp"))  # short: socket paths are limited
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: dict[str, subprocess.Popen] = {}
        self.cpus, self.timeout = cpus, timeout
        self._start("head", ["--head", f"--port={self.port}", f"--temp-dir={self.folder}",
                             f"--ray-client-server-port={free_port()}", "--include-dashboard=false"])
        for i in range(workers):
            self._start(f"worker{i}", [f"--address={self.address}", f'--resources={{"worker{i}": 1}}'])

    def _start(self, name: str, args: list[str]) -> None:
        log = self.folder / f"{name}.log"
        cmd = [sys.executable, "-c", LAUNCH, "start", "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}",
               "--disable-usage-stats", "--block", *args]
        with log.open("w") as out:
            self.nodes[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ),
                                                start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while "Ray runtime started" not in log.read_text():
            if self.nodes[name].poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray node {name} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)

    def kill(self, name: str) -> None:
        """Kill node ``name`` at once (SIGKILL to its process group), as if its machine died."""
        _signal_group(self.nodes[name], signal.SIGKILL)

    def stop(self) -> None:
        """Stop every node: SIGTERM to each process group, SIGKILL to what is left; then the processes
        still naming this cluster's folder (Ray's own workers)."""
        for proc in self.nodes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.nodes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
        for pid in _pids_naming(str(self.folder)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group we created with start_new_session
    except ProcessLookupError:
        pass


def _pids_naming(text: str) -> list[int]:
    """Processes of this user whose command line contains ``text``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    out.append(int(entry.name))
            except OSError:
                continue
    return out
