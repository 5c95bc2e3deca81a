"""A lecture hall (deploy/lecture_hall.py): sixty sessions through nginx to two Streamlit processes.

The hall is started as the README's command starts it (two servers, nginx in front), and the
classroom load of tests/test_load.py comes through nginx with twice the sessions: each a websocket
client on its own link, three runs each, every run checked against the engine. nginx's access log
names the process that served each request (`upstream=`), so it tells how the sessions spread.
Then a browser's way through: the page's first response pins it to a process by a cookie, its
websocket and its download (a file made on that process, fetched by plain HTTP) follow, and a
browser pinned to a process that is gone is served by another. Then the several-machine variant
(a front with no servers of its own, a worker with no nginx) and the command itself (it restarts a
server that exits, and SIGTERM ends every process it started). About a minute in all.

Without nginx these tests skip, except in CI (CI=true), where they fail: there they are part of
the suite.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from deploy.lecture_hall import COOKIE, ROOT, Backend, find_nginx, healthy, lecture_hall, nginx_config
from tests.app_server import ARTIFACTS, free_port, free_ports, loopback_hall, peak_rss_mib, process_tree
from tests.load_client import Session
from tests.test_load import CLASSROOM, check, expected, load, query, report, run_async, settings, warm_up
from ui.export import trajectories_csv

SESSIONS = 60
PROCESSES = 2
needs_nginx = pytest.mark.skipif(find_nginx() is None and os.environ.get("CI") != "true",
                                 reason="nginx is not installed (Debian: apt-get install -y nginx; CI installs it)")


def log_lines(hall, pattern: str) -> list[str]:
    """The access log's lines matching the regular expression `pattern`."""
    return [line for line in hall.access_log().splitlines() if re.search(pattern, line)]


def upstream(line: str) -> str:
    return re.search(r"upstream=(\S+)", line).group(1)


def wait_for_lines(hall, pattern: str, count: int, timeout: float = 10.0) -> list[str]:
    """The lines matching `pattern` once there are `count`: nginx logs a request after its answer,
    a websocket when it closes."""
    deadline = time.monotonic() + timeout
    while len(lines := log_lines(hall, pattern)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return lines


def get(url: str, cookie: str | None = None) -> tuple[int, str | None, bytes]:
    """(status, the hall's cookie value it set or None, body) of a GET."""
    request = urllib.request.Request(url, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            status, headers, body = reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    set_cookies = [v for v in headers.get_all("Set-Cookie") or [] if v.startswith(f"{COOKIE}=")]
    return status, set_cookies[0].split(";")[0].split("=")[1] if set_cookies else None, body


@pytest.fixture(scope="module")
def hall():
    with loopback_hall(PROCESSES, "lecture-hall") as running:
        yield running


@needs_nginx
def test_sixty_sessions_through_nginx_spread_over_both_processes(hall, capsys):
    """60 sessions at a classroom's pace through nginx: each gets its own correct result (checked
    in `load`), they spread over both processes, and nothing fails on the way."""
    warm_up(hall.url, PROCESSES)
    pids = [proc.pid for proc in hall.servers.values()]
    run = load(hall.url, pids, CLASSROOM, SESSIONS)
    peak = sum(map(peak_rss_mib, pids))

    streams = wait_for_lines(hall, "GET /_stcore/stream ", SESSIONS + PROCESSES)
    per_process = Counter(map(upstream, streams))
    with capsys.disabled():
        print(f"\n{report(f'lecture hall, {PROCESSES} processes via nginx', run)}\npeak RSS of the servers "
              f"{peak:.0f} MiB; websockets per process: {dict(per_process)}")
    assert len(streams) == SESSIONS + PROCESSES, streams
    assert all(" 101 " in line for line in streams), [line for line in streams if " 101 " not in line]
    assert set(per_process) == {b.address for b in hall.backends}, per_process
    assert min(per_process.values()) >= SESSIONS // 4, per_process
    failed = [line for line in hall.access_log().splitlines() if not re.search(r'" (101|200|304) ', line)]
    assert not failed, failed
    assert not re.search(r"\[(error|crit|alert|emerg)\]", (hall.state / "error.log").read_text()), \
        (hall.state / "error.log").read_text()
    for b in hall.backends:
        assert "Traceback" not in hall.server_log(b), hall.server_log(b)


@needs_nginx
def test_a_browser_stays_on_its_process_and_gets_its_download(hall):
    """The page's first response sets the cookie; the websocket and the download's /media/ request
    that carry it reach that process (the file exists there only), and the file is the session's."""
    status, pinned, _ = get(hall.url + "/")
    assert status == 200 and pinned in {"0", "1"}, (status, pinned)
    other = str(1 - int(pinned))
    s = settings(7)

    async def download() -> str:
        async with Session(hall.url, query(s), headers={"Cookie": f"{COOKIE}={pinned}"}) as session:
            shown = await session.rerun()
            check(shown, s)
            button = [b for b in shown.of_type("download_button") if b.label.startswith("Trajectories (CSV")]
            assert len(button) == 1 and button[0].deferred_file_id
            return await session.deferred_file(button[0].deferred_file_id)

    path = run_async(asyncio.wait_for(download(), 120))
    assert path.startswith("/media/"), path
    status, moved, body = get(hall.url + path, pinned)
    assert (status, moved) == (200, None), (status, moved)
    shown = pd.read_csv(io.BytesIO(body))
    pd.testing.assert_frame_equal(shown, pd.read_csv(io.BytesIO(trajectories_csv(expected(s)))),
                                  check_exact=False, rtol=1e-9, atol=1e-12)
    assert get(hall.url + path, other)[0] == 404  # why the cookie: the other process never made it

    address = hall.backends[int(pinned)].address
    media = wait_for_lines(hall, re.escape(f"GET {path} "), 2)  # nginx logs a request after answering it
    assert [upstream(line) for line in media] == [address, hall.backends[int(other)].address], media
    stream = wait_for_lines(hall, f"GET /_stcore/stream .* cookie={pinned} ", 1)
    assert [upstream(line) for line in stream] == [address], stream


@needs_nginx
def test_a_browser_pinned_to_a_stopped_process_moves_to_a_running_one():
    """Cookie 1 names a server that does not answer: nginx serves the request from server 0 and
    moves the cookie there; requests without a cookie skip the dead server too."""
    dead = Backend("127.0.0.1", free_port())
    with loopback_hall(1, "lecture-hall-failover", upstreams=[dead]) as hall:
        assert get(hall.url + "/_stcore/health", "1")[:2] == (200, "0")
        assert get(hall.url + "/_stcore/health", "0")[:2] == (200, None)
        assert [get(hall.url + "/_stcore/health")[0] for _ in range(4)] == [200] * 4


@needs_nginx
def test_several_machines_a_front_with_no_servers_and_workers_with_no_proxy(hall):
    """The README's several-machine variant, on this machine: a worker's servers (--no-proxy, on
    every interface) answer on their ports with no nginx; a front (--processes 0 --upstream ...)
    spreads sessions over servers it did not start (here the module's hall's two)."""
    with lecture_hall(1, 0, first_port=free_port(), address="0.0.0.0", proxy=False,
                      state_dir=ARTIFACTS / "lecture-hall-worker") as worker:
        assert worker.proxy is None and not (worker.state / "nginx.conf").exists()
        assert healthy(worker.url) and worker.url == f"http://{worker.backends[0].address}"
    with loopback_hall(0, "lecture-hall-front", upstreams=hall.backends) as front:
        assert not front.servers
        warm_up(front.url, PROCESSES)  # two sessions at once, each result checked
        streams = wait_for_lines(front, "GET /_stcore/stream ", PROCESSES)
    assert sorted(map(upstream, streams)) == [b.address for b in hall.backends], streams


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)
    return value


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@needs_nginx
def test_the_command_restarts_a_server_that_exits_and_stops_everything_on_sigterm():
    """`python -m deploy.lecture_hall` as the README starts it: it serves through nginx, starts
    again a server that was killed, and on SIGTERM ends nginx, the servers and itself."""
    state = ARTIFACTS / "lecture-hall-command"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    port, first = free_port(), free_ports(2)
    out = state / "command.out"
    with open(out, "w") as sink:
        hall = subprocess.Popen([sys.executable, "-m", "deploy.lecture_hall", "--processes", "2", "--port", str(port),
                                 "--first-port", str(first), "--listen", "127.0.0.1", "--state-dir", str(state)],
                                cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "Lecture hall: " in out.read_text() or hall.poll() is not None, "the hall to start")
        assert out.read_text().startswith(f"Lecture hall: http://127.0.0.1:{port} "), out.read_text()
        assert healthy(f"http://127.0.0.1:{port}")
        server = [p for p in process_tree(hall.pid) if f"--server.port {first} " in command_line(p)]
        assert len(server) == 1, [command_line(p) for p in process_tree(hall.pid)]
        os.kill(server[0], signal.SIGKILL)
        wait_for(lambda: f"127.0.0.1:{first} exited; started again" in out.read_text(), "the restart")
        wait_for(lambda: healthy(f"http://127.0.0.1:{first}"), "the restarted server")
        tree = process_tree(hall.pid)
        assert sum("nginx" in command_line(p) for p in tree) == 2, [command_line(p) for p in tree]  # master, worker
        assert sum("streamlit run app.py" in command_line(p) for p in tree) == 2, [command_line(p) for p in tree]
        hall.send_signal(signal.SIGTERM)
        assert hall.wait(timeout=30) == 0, out.read_text()
        left = [command_line(p) for p in tree if command_line(p)]
        assert not left, left
        assert not healthy(f"http://127.0.0.1:{port}")
    finally:
        if hall.poll() is None:
            os.killpg(hall.pid, signal.SIGKILL)
            hall.wait()


def test_the_config_lists_every_server_and_pins_each():
    """--print-config's text: the balanced upstream holds local and remote servers; each has its
    own pinned upstream and cookie value; websockets are upgraded; nothing outside the state folder."""
    backends = [Backend("127.0.0.1", 8501), Backend("127.0.0.1", 8502), Backend("10.0.0.2", 8501)]
    text = nginx_config(backends, 8080, ARTIFACTS / "state", listen="0.0.0.0")
    hall_block = re.search(r"upstream hall \{(.*?)\}", text, re.S).group(1)
    assert re.findall(r"server (\S+) ", hall_block) == [b.address for b in backends]
    for i, b in enumerate(backends):
        assert re.search(rf"upstream hall_{i} \{{\s*server {re.escape(b.address)};\s*\}}", text)
        assert f"    {i} hall_{i};" in text
    for directive in ("proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;",
                      "proxy_http_version 1.1;", "listen 0.0.0.0:8080;"):
        assert directive in text
    paths = re.findall(r"^\s*(?:pid|error_log|access_log|\w+_temp_path) (\S+?);?(?:\s|$)", text, re.M)
    assert len(paths) == 8 and all(p.startswith(str(ARTIFACTS / "state")) for p in paths), paths
    with pytest.raises(ValueError, match="backends is empty"):
        nginx_config([], 8080, ARTIFACTS)
