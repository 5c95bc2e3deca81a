"""A classroom on one server: 30 concurrent sessions of the 2-D page, rerun latency against the target.

    python -m bench.classroom_load

The load of tests/test_load.py (websocket clients of `streamlit run app.py` on loopback, each
on its own link, changing the steps and Adam's lr; every result checked against the engine):
first at a classroom's pace (arrivals within 3 s, a change every 1-3 s per student), then as a
burst (all 90 runs asked for at once). Prints rerun latency percentiles (request to
script_finished), the server's memory, and the classroom median against its target: <= 1.5 s.
The figures depend on the machine's speed: the server runs every session's script in one
process, so near saturation the queue, and the median, grow fast with the cost of a rerun
(python -m bench.app_rerun).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_load import MEDIAN_TARGET_S, classroom_and_burst, report  # noqa: E402


def main() -> int:
    classroom, burst, peak, _ = classroom_and_burst("bench-classroom")
    print(report("classroom", classroom))
    print(report("burst", burst))
    print(f"peak server RSS {peak:.0f} MiB")
    met = classroom["median"] <= MEDIAN_TARGET_S
    print(f"classroom median {classroom['median']:.2f} s, target <= {MEDIAN_TARGET_S} s: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
