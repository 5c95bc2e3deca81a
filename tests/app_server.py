"""`streamlit run app.py` on a free loopback port, as a context manager, and its memory.

Shared by the browser tests (tests/e2e), the load tests and the benchmarks; `loopback_hall` is a
lecture hall (several servers behind nginx) the same way. The server
runs in its own process group (deploy/lecture_hall.py starts and stops it as it does each of the
hall's servers), so that closing the context ends it and any worker it started (the background
kernel compiler) by that group's id, and nothing else.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.lecture_hall import Backend, Hall, lecture_hall, start_group, stop_group, streamlit_command, wait_healthy

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


def free_ports(n: int) -> int:
    """The first of n consecutive free loopback ports (a lecture hall's servers)."""
    while True:
        first = free_port()
        with contextlib.ExitStack() as held:
            try:
                for i in range(n):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", first + i))
            except OSError:
                continue
        return first


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None, name: str = "server", script: str = "app.py") -> Iterator[Server]:
    """Start the app headless on 127.0.0.1, wait for /_stcore/health, yield it, always stop it.

    env: extra environment variables for the server. Its output goes to artifacts/<name>.log.
    script: the page script, relative to the repository root (benchmarks time a bare app too).
    """
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"{name}.log"
    log.unlink(missing_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_group(streamlit_command(port, script=script), log, env)
    try:
        wait_healthy(url, proc, log, START_TIMEOUT)
        yield Server(url, proc.pid, log)
    finally:
        stop_group(proc)


@contextlib.contextmanager
def loopback_hall(processes: int, name: str, upstreams: Sequence[Backend] = ()) -> Iterator[Hall]:
    """deploy.lecture_hall's hall of `processes` servers, nginx and servers on free loopback ports;
    its config and logs in artifacts/<name>/."""
    state = ARTIFACTS / name
    shutil.rmtree(state, ignore_errors=True)
    with lecture_hall(processes, free_port(), first_port=free_ports(max(processes, 1)), listen="127.0.0.1",
                      upstreams=upstreams, state_dir=state) as hall:
        yield hall


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
