"""A classroom at once: 30 sessions of the 2-D page against one server on loopback.

Each session is a websocket client of the server (tests/load_client.py), opened on its own link
(its own learning rate and start point), then changes the number of steps and Adam's exact
learning rate in the sidebar, as a student would. Every run it gets must show its own settings'
trajectories, equal to optimizers.run for them (no state leaks between sessions), and no error.
The load comes twice: at a classroom's pace (everyone opens the link within 3 s, then changes
something every 1-3 s), where the latency target applies, and as a burst (all 90 runs asked for
at once), where only correctness and memory are checked. Reported: rerun latency percentiles
(from the request to script_finished), the server's peak memory and its memory per open session.
Bounded: 2 x 30 sessions x 3 runs, each load within LOAD_TIMEOUT seconds; about a minute in all.

The latency target (classroom median <= 1.5 s) is a speed figure: bench/classroom_load.py runs
the same load and prints it against the target; this test asserts correctness and memory only.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.app_server import peak_rss_mib, rss_mib, streamlit_server
from tests.load_client import Run, Session, plotly_array

SESSIONS = 30
LOAD_TIMEOUT = 150.0  # seconds for all sessions together
MEDIAN_TARGET_S = 1.5
RSS_TARGET_MIB = 1536.0
ROSENBROCK = get_surface("rosenbrock")


class Pace(NamedTuple):
    arrival: float  # sessions open the link at uniform random times within this many seconds
    think: tuple[float, float]  # seconds between a run's end and the session's next change


CLASSROOM = Pace(arrival=3.0, think=(1.0, 3.0))  # "open the link now", then one change every few seconds
BURST = Pace(arrival=0.0, think=(0.0, 0.0))  # every session at the same instant, no pause: the worst case


def settings(i: int) -> dict:
    """Session i's own link: Adam at its own lr next to SGD with momentum, from its own start."""
    return {"lr": round(0.01 + 0.001 * i, 6), "start": (-1.5, round(1.0 + 0.03 * i, 6)), "steps": 300}


def query(s: dict) -> str:
    return (f"surface=rosenbrock&opt=adam~lr:{s['lr']!r}&opt=sgd~lr:0.001~momentum:0.9"
            f"&start={s['start'][0]!r},{s['start'][1]!r}&steps={s['steps']}")


def expected(s: dict):
    optimizers = [get_optimizer("adam", lr=s["lr"]), get_optimizer("sgd", lr=0.001, momentum=0.9)]
    return run(ROSENBROCK, optimizers, [s["start"]], s["steps"], compiled=False)


def check(shown: Run, s: dict) -> None:
    """The run shows exactly session settings `s`: names, and every path equal to the engine's."""
    assert shown.status == "FINISHED_SUCCESSFULLY", shown.status
    assert not shown.errors(), shown.errors()
    res = expected(s)
    paths = [t for t in shown.map_figure()["data"] if t.get("meta", {}).get("role") == "path"]
    assert len(paths) == 2
    stop = res.stop_index()[:, 0]
    for k, trace in enumerate(paths):
        assert trace["name"].startswith(res.labels[k]), (trace["name"], res.labels[k])
        drawn = np.column_stack([plotly_array(trace["x"]), plotly_array(trace["y"])])
        np.testing.assert_allclose(drawn, res.path[k, 0, : stop[k] + 1], rtol=1e-9, atol=1e-12)


async def student(url: str, i: int, all_done: asyncio.Event, finished: list, pace: Pace, sessions: int) -> list[float]:
    """One session of `sessions`: open the link, change steps, change Adam's lr; check each run; wait
    for the others."""
    s = settings(i)
    rng = random.Random(i)
    await asyncio.sleep(rng.uniform(0, pace.arrival))
    async with Session(url, query(s)) as session:
        shown = await session.rerun()
        check(shown, s)
        times = [shown.seconds]
        await asyncio.sleep(rng.uniform(*pace.think))
        s = {**s, "steps": 200 + i}
        shown = await session.rerun({shown.widget_id("number_input", "steps"): s["steps"]})
        check(shown, s)
        times.append(shown.seconds)
        await asyncio.sleep(rng.uniform(*pace.think))
        s = {**s, "lr": round(2 * s["lr"], 6)}
        lr_field = shown.widget_id("number_input", "lr (exact)", key=".adam.lr")
        shown = await session.rerun({lr_field: s["lr"]})
        check(shown, s)
        times.append(shown.seconds)
        assert f"adam~lr%3A{s['lr']!r}" in session.query_string
        finished.append(i)
        if len(finished) == sessions:
            all_done.set()
        await all_done.wait()  # stay connected until every session is done: memory is measured then
    return times


async def classroom(url: str, pids: list[int], pace: Pace, sessions: int) -> tuple[list[float], float]:
    """All sessions at once; returns (run times, resident memory of the servers `pids` with all
    sessions open)."""
    all_done, finished = asyncio.Event(), []
    tasks = [asyncio.create_task(student(url, i, all_done, finished, pace, sessions)) for i in range(sessions)]
    await all_done.wait()
    open_rss = sum(map(rss_mib, pids))
    times = await asyncio.gather(*tasks)
    return [t for per_session in times for t in per_session], open_rss


def run_async(coroutine):
    """asyncio.run in a thread of its own: this thread may already run a loop (Playwright's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def load(url: str, pids: list[int], pace: Pace, sessions: int = SESSIONS) -> dict:
    """Run `sessions` sessions at `pace` against url; their run times and the memory of the
    servers `pids` (every process behind url)."""
    baseline = sum(map(rss_mib, pids))
    started = time.perf_counter()
    try:
        times, open_rss = run_async(asyncio.wait_for(classroom(url, pids, pace, sessions), LOAD_TIMEOUT))
    except TimeoutError:
        pytest.fail(f"{sessions} sessions did not finish within {LOAD_TIMEOUT:.0f} s")
    assert len(times) == 3 * sessions
    return {"times": times, "sessions": sessions, "wall": time.perf_counter() - started, "baseline": baseline,
            "open": open_rss, "median": statistics.median(times), "p95": percentile(times, 95)}


def report(name: str, r: dict) -> str:
    t, n = r["times"], r["sessions"]
    return (f"{name}: {n} sessions x 3 runs in {r['wall']:.1f} s; rerun latency median {r['median']:.2f} s, "
            f"p90 {percentile(t, 90):.2f} s, p95 {r['p95']:.2f} s, max {max(t):.2f} s; server RSS "
            f"{r['baseline']:.0f} MiB before, {r['open']:.0f} MiB with all sessions open "
            f"({(r['open'] - r['baseline']) / n:.1f} MiB per session)")


def warm_up(url: str, processes: int = 1) -> None:
    """A session of its own on each of the `processes` behind url, opened together so that a
    balancer sends one to each: imports, first figures, the engine's kernels."""
    async def one(s: dict) -> None:
        async with Session(url, query(s)) as session:
            check(await session.rerun(), s)

    async def each() -> None:
        await asyncio.gather(*(one(settings(SESSIONS + j)) for j in range(processes)))

    run_async(asyncio.wait_for(each(), LOAD_TIMEOUT))


def classroom_and_burst(url: str, pids: list[int], sessions: int = SESSIONS) -> tuple[dict, dict, float]:
    """The warm-up, then the classroom and the burst against the servers `pids` behind url: their
    runs and the servers' peak RSS."""
    warm_up(url, len(pids))
    classroom_run = load(url, pids, CLASSROOM, sessions)
    burst_run = load(url, pids, BURST, sessions)
    return classroom_run, burst_run, sum(map(peak_rss_mib, pids))


@pytest.fixture(scope="module")
def load_runs():
    with streamlit_server(name="load-server") as server:
        return *classroom_and_burst(server.url, [server.pid]), server.log_text()


def test_thirty_sessions_at_once_each_get_their_own_result(load_runs, capsys):
    """A classroom (arrivals within 3 s, a change every 1-3 s per student) and a burst (all 90 runs
    requested at once): every session gets its own correct result (checked in `load`), no errors,
    and the server stays within its memory target."""
    classroom_run, burst_run, peak, logged = load_runs
    with capsys.disabled():
        print("\n" + report("classroom", classroom_run) + "\n" + report("burst", burst_run)
              + f"\npeak server RSS {peak:.0f} MiB")
    assert "Traceback" not in logged, logged
    assert peak <= RSS_TARGET_MIB, f"peak server RSS {peak:.0f} MiB"
