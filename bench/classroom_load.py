"""A classroom on one server, and a lecture hall: two servers behind nginx, side by side.

    python -m bench.classroom_load

The load of tests/test_load.py (websocket clients of `streamlit run app.py`, each on its own
link, changing the steps and Adam's lr; every result checked against the engine): first at a
classroom's pace (arrivals within 3 s, a change every 1-3 s per student), then as a burst (every
run asked for at once). It comes three times: 30 sessions to one server (the classroom median's
target: <= 1.5 s), 60 to one server, and 60 through nginx to two servers started by
deploy/lecture_hall.py as tests/test_lecture_hall.py starts them (nginx is needed for that row).
Printed: every run's report, then one table of rerun latency (request to script_finished) median
and p95 and the servers' peak memory. The figures depend on the machine: one server runs every
session's script in one process, under one GIL, so near saturation its queue, and the median,
grow fast with the cost of a rerun (python -m bench.app_rerun); a second process helps as far as
there are cores for it (and for the clients, which run here too).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.lecture_hall import find_nginx  # noqa: E402
from tests.app_server import loopback_hall, streamlit_server  # noqa: E402
from tests.test_load import MEDIAN_TARGET_S, classroom_and_burst, report  # noqa: E402

HALL_PROCESSES = 2


def one_server(sessions: int) -> tuple[dict, dict, float]:
    with streamlit_server(name="bench-classroom") as server:
        return classroom_and_burst(server.url, [server.pid], sessions)


def hall(sessions: int) -> tuple[dict, dict, float]:
    with loopback_hall(HALL_PROCESSES, "bench-lecture-hall") as running:
        return classroom_and_burst(running.url, [proc.pid for proc in running.servers.values()], sessions)


def main() -> int:
    setups = [("1 process", 30, one_server), ("1 process", 60, one_server)]
    if find_nginx():
        setups.append((f"{HALL_PROCESSES} processes via nginx", 60, hall))
    else:
        print("nginx is not installed (apt-get install -y nginx): no lecture-hall row")
    rows = []
    for name, sessions, serve in setups:
        classroom, burst, peak = serve(sessions)
        print(report(f"{name}, classroom", classroom))
        print(report(f"{name}, burst", burst))
        rows.append((name, sessions, classroom, burst, peak))
    print(f"\n{'setup':<26}{'sessions':>9}{'classroom median':>18}{'p95':>8}{'burst median':>14}{'p95':>8}"
          f"{'peak RSS':>11}")
    for name, sessions, classroom, burst, peak in rows:
        print(f"{name:<26}{sessions:>9}{classroom['median']:>17.2f}s{classroom['p95']:>7.2f}s"
              f"{burst['median']:>13.2f}s{burst['p95']:>7.2f}s{peak:>7.0f} MiB")
    median = rows[0][2]["median"]
    print(f"\nclassroom median with {rows[0][1]} sessions on one process {median:.2f} s, target <= {MEDIAN_TARGET_S} s: "
          f"{'met' if median <= MEDIAN_TARGET_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
