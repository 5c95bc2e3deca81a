"""What the server sends per rerun of the 2-D page's opening view, element by element (AppTest).

    python -m bench.rerun_bytes [--changes 3]

Releases Adam's learning-rate slider on `changes` new notches (what the release sets: the exact
number input) and, after each, reruns once with nothing changed; for the last of each it prints
the elements the rerun sent (every element of the page: Streamlit re-sends each one on every
rerun) and their bytes (each element's proto.ByteSize(), about what travels on the websocket),
grouped by kind: a custom component by its name, else the element's type.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402
from streamlit.testing.v1.element_tree import Block  # noqa: E402

from ui.widgets import log_grid  # noqa: E402

LR_KEY = "opt4.adam.lr"  # the opening view's Adam, fifth panel


def elements(at: AppTest) -> dict[str, list[int]]:
    """{kind: [bytes of each element]} of the page's last run (blocks left out)."""
    kinds: dict[str, list[int]] = defaultdict(list)
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None or isinstance(node, Block):
            continue
        kind = proto.component_name if node.type == "bidi_component" else node.type
        kinds[kind].append(proto.ByteSize())
    return kinds


def table(title: str, kinds: dict[str, list[int]]) -> str:
    rows = sorted(kinds.items(), key=lambda kv: -sum(kv[1]))
    count, total = sum(len(v) for v in kinds.values()), sum(sum(v) for v in kinds.values())
    lines = [f"{title}: {count} elements, {total / 1024:.1f} KiB",
             f"  {'element':<26}{'count':>6}{'KiB':>9}{'max B':>9}"]
    lines += [f"  {kind:<26}{len(v):>6}{sum(v) / 1024:>9.1f}{max(v):>9}" for kind, v in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=3)
    args = parser.parse_args()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    print(table("first run of a new session", elements(at)))
    (number,) = [w for w in at.number_input if w.key == LR_KEY]
    grid = [v for v in log_grid(1e-3, 0.2) if v != number.value]
    for value in grid[: args.changes]:
        [w for w in at.number_input if w.key == LR_KEY][0].set_value(value).run()
        assert not at.exception, at.exception
    print(table(f"rerun after a slider release (Adam's lr -> {value:g})", elements(at)))
    at.run()
    print(table("rerun with nothing changed", elements(at)))


if __name__ == "__main__":
    main()
