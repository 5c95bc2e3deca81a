"""`streamlit run app.py` on a free loopback port, as a context manager, and its memory.

Shared by the browser tests (tests/e2e), the load test and bench/browser_latency.py. The server
runs in its own process group, so that closing the context ends it and any worker it started
(the background kernel compiler) by that group's id, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
START_TIMEOUT = 90.0  # seconds: a cold start imports torch, numba and plotly on a slow machine


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:<port>
    pid: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
            return reply.status == 200 and reply.read().strip() == b"ok"
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group, SIGKILL if it has not left after 10 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # a worker left behind by the server


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None, name: str = "server", script: str = "app.py") -> Iterator[Server]:
    """Start the app headless on 127.0.0.1, wait for /_stcore/health, yield it, always stop it.

    env: extra environment variables for the server. Its output goes to artifacts/<name>.log.
    script: the page script, relative to the repository root (benchmarks time a bare app too).
    """
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"{name}.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}:\n{log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after {START_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield Server(url, proc.pid, log)
    finally:
        _stop(proc)


# --- memory ---------------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    """A 'VmRSS'/'VmHWM' line of /proc/<pid>/status in KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/<pid>/task/<tid>/children)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return tree


def rss_mib(pid: int) -> float:
    """Resident memory now of the process tree under pid, in MiB."""
    return sum(_status_kib(p, "VmRSS") for p in process_tree(pid)) / 1024


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of the process tree under pid, summed, in MiB: an upper bound
    of the tree's peak, since its processes need not peak together."""
    return sum(_status_kib(p, "VmHWM") for p in process_tree(pid)) / 1024
