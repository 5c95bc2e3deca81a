"""A lecture hall: the app served by several Streamlit processes behind nginx, started by one command.

    python -m deploy.lecture_hall --processes 4 --port 8080

One Streamlit process runs every session's script under one GIL, so a class of a hundred needs
several. This starts `--processes` servers (`streamlit run app.py`, headless) on consecutive
loopback ports from `--first-port`, waits until each answers /_stcore/health, writes an nginx
configuration for them into a private state folder and runs nginx in the foreground from there
(its own prefix, pid, logs and temporary paths: no root, no /etc/nginx). Ctrl-C or SIGTERM stops
nginx, then every server with the workers it started. A server that exits on its own is
started again; meanwhile nginx sends its sessions elsewhere.

Routing (nginx_config below). A session lives on its websocket (/_stcore/stream), one long
connection that nginx keeps on the process it was opened on, so spreading connections
(`least_conn`: to the process with the fewest open connections) spreads sessions. What a
session asks for by plain HTTP must reach the same process, though: a download button's file is
made on its session's process and fetched from /media/<id> there. So the first response to a
browser sets a cookie naming the process that answered (`optvis_hall=<index>`), and every later
request carrying it goes to that process: one browser, one process, its websocket and downloads
included. A request without the cookie (the first one, or a client that keeps none) is balanced.
If a pinned process is down, nginx answers from another one and the cookie moves; the page
reconnects there and restores itself from its link, which holds the whole state.

Several machines: on each worker machine start servers only, reachable from the front machine,

    python -m deploy.lecture_hall --processes 8 --no-proxy --address 0.0.0.0

and on the front machine nginx (and optionally local servers) with every remote one listed,

    python -m deploy.lecture_hall --processes 2 --port 8080 --upstream 10.0.0.2:8501 --upstream 10.0.0.2:8502

`--print-config` prints the nginx configuration for those arguments, for a system nginx to run
instead (its paths then point at the state folder given by `--state-dir`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0  # seconds for every server to answer its health check: each imports torch, numba, plotly
COOKIE = "optvis_hall"
STREAM_TIMEOUT_S = 86400  # a websocket idle for a day is still a session (a lecture, a break, a question)
MAX_BODY = "2m"  # the app takes no uploads (.streamlit/config.toml): request bodies stay in memory


@dataclass(frozen=True)
class Backend:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Backend:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise argparse.ArgumentTypeError(f"upstream: {text!r} is not HOST:PORT")
        return cls(host, int(port))


# --- one Streamlit server ----------------------------------------------------------------------


def streamlit_command(port: int, address: str = "127.0.0.1", script: str = "app.py") -> list[str]:
    """`streamlit run app.py` headless on address:port (the rest of its settings: .streamlit/config.toml)."""
    return [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
            "--server.port", str(port), "--server.address", address, "--browser.gatherUsageStats", "false"]


def start_group(command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `command` from the repository root in a process group of its own, output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(list(command), cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to the process's own group, SIGKILL if it has not left after `grace` seconds; then
    SIGKILL to whatever of the group is left (a worker the process started)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
            return reply.status == 200 and reply.read().strip() == b"ok"
    except OSError:
        return False


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited with code {proc.returncode}:\n{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: not healthy after {timeout:.0f} s:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


# --- the nginx configuration -------------------------------------------------------------------


def _proxy_lines(target: str) -> list[str]:
    """A location's body: proxy to `target` over HTTP/1.1, upgrading websockets."""
    return [f"proxy_pass http://{target};",
            "proxy_http_version 1.1;",
            "proxy_set_header Host $http_host;",  # Streamlit accepts a websocket whose Origin is its Host
            "proxy_set_header Upgrade $http_upgrade;",
            "proxy_set_header Connection $connection_upgrade;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            f"proxy_read_timeout {STREAM_TIMEOUT_S}s;",
            f"proxy_send_timeout {STREAM_TIMEOUT_S}s;",
            'add_header Set-Cookie $hall_cookie always;']


def _block(head: str, lines: list[str]) -> list[str]:
    return [f"{head} {{", *("    " + line for line in lines), "}"]


def nginx_config(backends: Sequence[Backend], port: int, state: Path, listen: str = "0.0.0.0") -> str:
    """nginx.conf serving `backends` on listen:port; pid, logs and temporary files under `state`.

    Upstream `hall` balances by open connections; `hall_<i>` is backend i alone, chosen when the
    request's cookie names i; the response sets the cookie to the backend that answered.
    """
    if not backends:
        raise ValueError("nginx_config: backends is empty; give --processes > 0 or an --upstream")
    pinned = [f"{i} hall_{i};" for i in range(len(backends))]
    # $upstream_addr lists every server tried ("a:1, b:2", " : " after an error_page): the last one answered.
    answered = [f"~(^|\\s){re.escape(b.address)}$ {i};" for i, b in enumerate(backends)]
    http = [
        "log_format hall '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent '",
        "                'upstream=$upstream_addr cookie=$cookie_" + COOKIE + " time=$request_time';",
        f"access_log {state / 'access.log'} hall;",
        f"client_body_temp_path {state / 'tmp' / 'body'};",
        f"proxy_temp_path {state / 'tmp' / 'proxy'};",
        f"fastcgi_temp_path {state / 'tmp' / 'fastcgi'};",
        f"uwsgi_temp_path {state / 'tmp' / 'uwsgi'};",
        f"scgi_temp_path {state / 'tmp' / 'scgi'};",
        # No temporary files: nginx's workers may run as another user than the state folder's owner.
        "proxy_max_temp_file_size 0;",
        f"client_max_body_size {MAX_BODY};",
        f"client_body_buffer_size {MAX_BODY};",
        *_block("map $http_upgrade $connection_upgrade", ["default upgrade;", "'' close;"]),
        *_block("upstream hall", ["least_conn;", *(f"server {b.address} max_fails=1 fail_timeout=5s;" for b in backends)]),
        *(line for i, b in enumerate(backends) for line in _block(f"upstream hall_{i}", [f"server {b.address};"])),
        *_block(f"map $cookie_{COOKIE} $hall_pinned", ["default hall;", *pinned]),
        *_block("map $upstream_addr $hall_answered", ['default "";', *answered]),
        # Set the cookie only where it changes: an empty add_header value sends no header.
        *_block(f'map "$cookie_{COOKIE}/$hall_answered" $hall_cookie',
                ['~^(\\d*)/\\1$ "";', f'default "{COOKIE}=$hall_answered; Path=/; HttpOnly; SameSite=Lax";']),
        *_block("server", [
            f"listen {listen}:{port};",
            *_block("location /", [*_proxy_lines("$hall_pinned"), "error_page 502 504 = @rebalance;"]),
            # The pinned process is down: answer from the others (the cookie then moves).
            *_block("location @rebalance", _proxy_lines("hall")),
        ]),
    ]
    lines = [
        "# Written by deploy/lecture_hall.py.",
        "worker_processes 1;",  # one event loop proxies thousands of websockets; the cores go to Streamlit
        f"pid {state / 'nginx.pid'};",
        f"error_log {state / 'error.log'} warn;",
        # Two per websocket (browser and server side): 500 students. More would exceed the 1,024
        # open files a user gets by default.
        *_block("events", ["worker_connections 1024;"]),
        *_block("http", http),
    ]
    return "\n".join(lines) + "\n"


def find_nginx() -> str | None:
    """The nginx binary, also where PATH leaves out the sbin folders; None if it is not installed."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/local/nginx/sbin")


def nginx_command(state: Path) -> list[str]:
    """nginx in the foreground on state/nginx.conf, its startup errors in state/error.log too."""
    nginx = find_nginx()
    if nginx is None:
        raise FileNotFoundError("nginx is not installed (Debian: apt-get install -y nginx)")
    return [nginx, "-p", str(state), "-c", str(state / "nginx.conf"), "-e", str(state / "error.log"),
            "-g", "daemon off;"]


# --- the hall ----------------------------------------------------------------------------------


@dataclass
class Hall:
    url: str  # the proxy's address, or the first server's with no proxy
    backends: list[Backend]  # every server nginx routes to, local ones first
    state: Path  # nginx.conf, access.log, error.log, streamlit-<port>.log
    servers: dict[Backend, subprocess.Popen]  # the local servers
    proxy: subprocess.Popen | None
    address: str  # what the local servers listen on
    env: dict[str, str]  # what the local servers' environment adds to ours

    def access_log(self) -> str:
        return (self.state / "access.log").read_text(errors="replace")

    def server_log(self, backend: Backend) -> str:
        return (self.state / f"streamlit-{backend.port}.log").read_text(errors="replace")

    def restart_exited(self) -> list[Backend]:
        """Start again every local server that has exited; the ones restarted."""
        restarted = [b for b, proc in self.servers.items() if proc.poll() is not None]
        for b in restarted:
            self.servers[b] = start_group(streamlit_command(b.port, self.address),
                                          self.state / f"streamlit-{b.port}.log", self.env)
        return restarted


def _reachable(address: str) -> str:
    """Where this machine reaches a server listening on `address` (every interface: loopback)."""
    return "127.0.0.1" if address in ("0.0.0.0", "::", "") else address


def _server_env() -> dict[str, str]:
    # One cookie secret for every process (Streamlit signs its cookies with it): a cookie from one
    # process is valid on all. Set it yourself on every machine of a several-machine hall.
    return {"STREAMLIT_SERVER_COOKIE_SECRET": os.environ.get("STREAMLIT_SERVER_COOKIE_SECRET") or secrets.token_hex(32)}


@contextlib.contextmanager
def lecture_hall(processes: int, port: int, *, first_port: int = 8501, address: str = "127.0.0.1",
                 upstreams: Sequence[Backend] = (), listen: str = "0.0.0.0", proxy: bool = True,
                 state_dir: Path | None = None) -> Iterator[Hall]:
    """Start `processes` local servers on first_port, first_port + 1, ... and, with `proxy`, nginx on
    listen:port in front of them and of `upstreams`; yield the running Hall; always stop it all."""
    if processes < 0:
        raise ValueError(f"lecture_hall: processes={processes} is negative")
    local = [Backend(_reachable(address), first_port + i) for i in range(processes)]
    backends = local + list(upstreams)
    if not backends:
        raise ValueError("lecture_hall: no servers; give processes > 0 or upstreams")
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="lecture-hall-"))
    (state / "tmp").mkdir(parents=True, exist_ok=True)
    env = _server_env()
    servers: dict[Backend, subprocess.Popen] = {}
    nginx: subprocess.Popen | None = None
    try:
        for b in local:  # all start at once, then each is waited for
            servers[b] = start_group(streamlit_command(b.port, address), state / f"streamlit-{b.port}.log", env)
        for b in local:
            wait_healthy(f"http://{b.address}", servers[b], state / f"streamlit-{b.port}.log")
        url = f"http://{local[0].address}" if local else ""
        if proxy:
            (state / "nginx.conf").write_text(nginx_config(backends, port, state, listen))
            checked = subprocess.run([*nginx_command(state)[:-2], "-t", "-q"], capture_output=True, text=True)
            if checked.returncode != 0:
                raise RuntimeError(f"nginx rejected {state / 'nginx.conf'}:\n{checked.stderr}")
            nginx = start_group(nginx_command(state), state / "nginx.out")
            url = f"http://{_reachable(listen)}:{port}"
            wait_healthy(url, nginx, state / "error.log")
        yield Hall(url, backends, state, servers, nginx, address, env)
    finally:
        if nginx is not None:  # first: no new connections to servers that are leaving
            stop_group(nginx)
        for proc in servers.values():
            stop_group(proc)
        if state_dir is None:
            shutil.rmtree(state, ignore_errors=True)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m deploy.lecture_hall", description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                   help="Streamlit servers on this machine (default: one per core)")
    p.add_argument("--port", type=int, default=8080, help="the port students open (nginx)")
    p.add_argument("--listen", default="0.0.0.0", help="address nginx listens on (default: every interface)")
    p.add_argument("--first-port", type=int, default=8501, help="port of the first local server; the others follow")
    p.add_argument("--address", default="127.0.0.1",
                   help="address the local servers listen on (0.0.0.0 on a worker machine of a several-machine hall)")
    p.add_argument("--upstream", type=Backend.parse, action="append", default=[], metavar="HOST:PORT",
                   help="a server on another machine, started there with --no-proxy (repeat for each)")
    p.add_argument("--no-proxy", action="store_true", help="start the servers only, for another machine's nginx")
    p.add_argument("--state-dir", type=Path, help="where the nginx config and the logs go (default: a temporary folder)")
    p.add_argument("--print-config", action="store_true", help="print the nginx configuration and exit")
    return p.parse_args(argv)


def _interrupt(signum, frame) -> None:
    """SIGTERM as Ctrl-C, at any point (a start takes a while); once, so that the stopping finishes."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.no_proxy and args.processes <= 0:
        print("--no-proxy starts servers only: give --processes > 0", file=sys.stderr)
        return 2
    if args.print_config:
        local = [Backend(_reachable(args.address), args.first_port + i) for i in range(args.processes)]
        state = args.state_dir or Path("/var/lib/lecture-hall")
        print(nginx_config(local + args.upstream, args.port, state.resolve(), args.listen), end="")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with lecture_hall(args.processes, args.port, first_port=args.first_port, address=args.address,
                          upstreams=args.upstream, listen=args.listen, proxy=not args.no_proxy,
                          state_dir=args.state_dir) as hall:
            servers = ", ".join(b.address for b in hall.backends)
            where = (f"{hall.url} (from other machines: http://{socket.gethostname()}:{args.port})" if hall.proxy
                     else f"servers only, listening on {args.address}")
            print(f"Lecture hall: {where}; servers {servers}; logs in {hall.state}; Ctrl-C stops it", flush=True)
            while True:
                if hall.proxy is not None and hall.proxy.poll() is not None:
                    print(f"nginx exited with code {hall.proxy.returncode}: see {hall.state / 'error.log'}",
                          file=sys.stderr)
                    return 1
                for b in hall.restart_exited():
                    print(f"{b.address} exited; started again", file=sys.stderr, flush=True)
                time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
