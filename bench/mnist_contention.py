"""The 2-D page's rerun latency while two MNIST jobs train on the same server (issue #13).

    python -m bench.mnist_contention [--reruns 20]

Starts `streamlit run app.py` on a loopback port (the production setup) and drives it with
websocket sessions (tests/load_client.py). A 2-D page session changes the number of steps
before every rerun (each a new computation) and times it, from the request to script_finished:
first with the server idle, then while two other sessions train on the MNIST page, each as the
issue's heavy job (12 optimizers, H = 128, batch 512, 100,000 steps asked for: the page lowers
them to its work cap) and each polling its live view every second as a browser does (a job
whose page stops polling is stopped), and a third session exports the worst link's trajectories
(1,000 starts, 12 optimizers, 20,000 steps asked for) as CSV again and again, fetching each file
over HTTP as a browser does. Prints both medians and their ratio; target: the median while two
jobs train and the export runs at most 2x the idle one. Also the trainings' speed as their pages
show it and how many exports were made.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_server import streamlit_server  # noqa: E402
from tests.load_client import Run, Session  # noqa: E402
from tests.test_load import query, settings  # noqa: E402

TARGET_RATIO = 2.0
THINK_S = 0.3  # between a 2-D rerun's end and the next change
JOBS = 2
POLL_S = 1.0  # the MNIST page's live view (ui/mnist_page.py POLL)
JOB = {"optimizers": 12, "hidden": "128", "batch": "512", "steps": 100_000}
DEFAULT_OPTIMIZERS = 5  # the MNIST page's opening view


def checked(run: Run) -> Run:
    assert run.status.startswith("FINISHED") and not run.errors(), (run.status, run.errors())
    return run


async def two_d_reruns(url: str, n: int) -> list[float]:
    """Seconds of n reruns of the 2-D page, each after a change of its number of steps."""
    async with Session(url, query(settings(0))) as session:
        run = checked(await session.rerun())
        steps = run.widget_id("number_input", "steps")
        await session.rerun({steps: 250})  # warm-up: the first figures of this session
        times = []
        for i in range(n):
            times.append(checked(await session.rerun({steps: 200 + i})).seconds)
            await asyncio.sleep(THINK_S)
    return times


WORST_LINK = "swarm=1000&steps=20000&" + "&".join(f"opt=adam~lr:{0.01 * (i + 1):g}" for i in range(12))


class Exporter:
    """A session on the worst link that asks for its trajectories CSV until stopped."""

    def __init__(self, url: str):
        self.url = url
        self.session = Session(url, WORST_LINK)
        self.files: list[int] = []  # bytes of each export

    async def run(self, stop: asyncio.Event) -> None:
        async with self.session as s:
            run = checked(await s.rerun())
            (button,) = [b for b in run.of_type("download_button") if b.label.startswith("Trajectories (CSV")]
            while not stop.is_set():
                path = await s.deferred_file(button.deferred_file_id)
                body = await asyncio.to_thread(read_url, urllib.parse.urljoin(self.url, path))
                self.files.append(len(body))


def read_url(url: str) -> bytes:
    with urllib.request.urlopen(url) as response:
        return response.read()


def progress_text(run: Run) -> str:
    return " ".join(p.text for p in run.of_type("progress"))


class Trainer:
    """A session that starts the heavy job on the MNIST page and polls its live view every second."""

    def __init__(self, url: str):
        self.session = Session(url, page_name="mnist_page")
        self.training = asyncio.Event()
        self.shown = ""  # the progress bar's last text

    async def run(self, stop: asyncio.Event) -> None:
        async with self.session as s:
            run = checked(await s.rerun())
            for _ in range(JOB["optimizers"] - DEFAULT_OPTIMIZERS):
                run = checked(await s.rerun(click=run.widget_id("button", "Add optimizer")))
            run = checked(await s.rerun({run.widget_id("button_group", "Train for"): ["steps"],
                                         run.widget_id("slider", "Hidden units H (784 → H → 10)"): [JOB["hidden"]],
                                         run.widget_id("slider", "Batch size"): [JOB["batch"]]}))
            run = checked(await s.rerun({run.widget_id("number_input", "steps", key="mnist.w.steps"): JOB["steps"]}))
            train = run.widget_id("button", "Train", key="mnist.train")
            stop_button = run.widget_id("button", "Stop", key="mnist.stop")
            run = checked(await s.rerun(click=train))
            while not stop.is_set():
                self.shown = progress_text(run) or self.shown
                if "steps/s" in self.shown:
                    self.training.set()
                await asyncio.sleep(POLL_S)
                run = checked(await s.rerun(fragment_id=next(iter(s.fragments))) if s.fragments else await s.rerun())
            checked(await s.rerun(click=stop_button))

    def speed(self) -> str:
        found = re.search(r"Step ([\d,]+) / ([\d,]+) · ([\d,]+) steps/s", self.shown)
        return f"step {found[1]} of {found[2]} at {found[3]} steps/s" if found else self.shown


async def measure(url: str, n: int) -> tuple[list[float], list[float], list[Trainer]]:
    idle = await two_d_reruns(url, n)
    stop = asyncio.Event()
    trainers = [Trainer(url) for _ in range(JOBS)]
    exporter = Exporter(url)
    tasks = [asyncio.create_task(t.run(stop)) for t in trainers]
    try:
        await asyncio.wait_for(asyncio.gather(*(t.training.wait() for t in trainers)), 120)
        tasks.append(asyncio.create_task(exporter.run(stop)))
        busy = await two_d_reruns(url, n)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return idle, busy, trainers, exporter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=20)
    args = parser.parse_args()
    with streamlit_server(name="bench-mnist-contention") as server:
        idle, busy, trainers, exporter = asyncio.run(measure(server.url, args.reruns))
        logged = server.log_text()
    if "Traceback" in logged:
        print(logged)
    a, b = statistics.median(idle), statistics.median(busy)
    print(f"2-D page rerun after a change of steps, n={args.reruns} each (request to script_finished):")
    print(f"  idle server:             median {a:.3f} s   max {max(idle):.3f} s")
    print(f"  while {JOBS} MNIST jobs train and the worst export runs: median {b:.3f} s   max {max(busy):.3f} s")
    print(f"  worst link's CSV exported {len(exporter.files)} times meanwhile "
          f"({statistics.median(exporter.files) / 1e6 if exporter.files else 0:.1f} MB each)")
    for i, t in enumerate(trainers):
        print(f"  job {i + 1} ({JOB['optimizers']} optimizers, H = {JOB['hidden']}, batch {JOB['batch']}): {t.speed()}")
    ratio = b / a
    print(f"ratio {ratio:.2f}, target <= {TARGET_RATIO:.0f}: {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
