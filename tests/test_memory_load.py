"""Memory with 30 swarm sessions (issue #13's targets): sessions on one link share one result,
and thirty different links compute a few at a time within the store's budget.

Each session opens a swarm link (1,000 random starts, the five default optimizers: 200 steps, the
page's cap of 1,000,000 trajectory-steps, about 150 MB of record) and waits until all are open.
Targets on the server's peak resident memory (its whole process tree): 30 sessions on one link
at most 1.5 GB, 30 sessions on 30 links at most 3 GB, no errors; and after every session has
closed, the server holds at most the shared store's budget beyond what it held before.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.app_server import peak_rss_mib, rss_mib, streamlit_server
from tests.load_client import Session
from tests.test_load import run_async
from ui.compute import RESULT_BYTES

SESSIONS = 30
ONE_LINK_TARGET_MIB = 1536.0
MANY_LINKS_TARGET_MIB = 3072.0
TIMEOUT = 600.0


def swarm_link(seed: int) -> str:
    return f"surface=himmelblau&swarm=1000&swarm_seed={seed}"


async def open_all(url: str, links: list[str]) -> list:
    """One session per link, all at once; each waits until every run has finished."""
    done, finished = asyncio.Event(), []

    async def one(link: str):
        async with Session(url, link) as session:
            shown = await session.rerun()
            finished.append(shown)
            if len(finished) == len(links):
                done.set()
            await done.wait()
            return shown

    return await asyncio.gather(*(one(link) for link in links))


def check(shown) -> None:
    assert shown.status == "FINISHED_SUCCESSFULLY", shown.status
    assert not shown.errors(), shown.errors()
    paths = [t for t in shown.map_figure()["data"] if t.get("meta", {}).get("role") == "path"]
    assert {t["meta"]["config"] for t in paths} == set(range(5))  # a swarm's paths come in bands of age


@pytest.mark.parametrize("distinct", [False, True], ids=["one link", "thirty links"])
def test_thirty_swarm_sessions_stay_within_their_memory_target(distinct, capsys):
    target = MANY_LINKS_TARGET_MIB if distinct else ONE_LINK_TARGET_MIB
    with streamlit_server(name=f"memory-load-{'many' if distinct else 'one'}") as server:
        run_async(asyncio.wait_for(open_all(server.url, ["surface=himmelblau"]), TIMEOUT))  # imports, kernels
        before = rss_mib(server.pid)
        links = [swarm_link(i if distinct else 0) for i in range(SESSIONS)]
        started = time.perf_counter()
        shown = run_async(asyncio.wait_for(open_all(server.url, links), TIMEOUT))
        wall = time.perf_counter() - started
        for run in shown:
            check(run)
        peak = peak_rss_mib(server.pid)
        time.sleep(2.0)  # every session has closed
        after = rss_mib(server.pid)
        logged = server.log_text()
    with capsys.disabled():
        print(f"\n{SESSIONS} swarm sessions on {'30 links' if distinct else 'one link'}: all open after {wall:.1f} s, "
              f"server RSS {before:.0f} MiB before, peak {peak:.0f} MiB (target <= {target:.0f} MiB), "
              f"{after:.0f} MiB after they closed")
    assert "Traceback" not in logged, logged
    assert peak <= target, f"peak server RSS {peak:.0f} MiB"
    # what stays is the shared store's results (within its budget) and the process's own
    assert after <= before + RESULT_BYTES / 2**20 + 150, f"{after:.0f} MiB after the sessions closed"
