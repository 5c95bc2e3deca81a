"""The drag preview's computation on the server: python -m bench.preview [--repeats 5]

1. The default view's whole preview (ui/preview.payload: 5 optimizers, every lr notch and 14
   other sliders, 599 runs of 500 steps; then Rosenbrock's a and b, every optimizer at each of
   their 21 and 31 notches with the surface's image), nothing kept: what a new link costs.
   Each slider's preview is one computation (one engine run over its notches; a surface
   slider's, one run per notch and its images): the slowest of them and their median.
2. After a release on Adam's lr slider: what the rerun recomputes (Adam's other sliders; its own
   and the other optimizers' entries are kept).
3. Beside them, one run of the page itself (5 optimizers x 1 start x 500 steps) and the array
   code's time for (1), as the page computes without compiled kernels.
Compiled kernels (loaded from the disk cache or compiled first; the one-off cost is printed).
Target: each preview computation <= 100 ms with the compiled path. Medians of `repeats`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from optimizers import get_optimizer, run
from optimizers.kernels import cache


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from ui import preview
    from ui.state import make_config

    config = make_config()
    keys = [lambda spec, k=k, name=o.name: f"opt{k}.{name}.{spec}" for k, o in enumerate(config.optimizers)]
    sliders = preview.page_sliders(config, keys)
    sliders += preview.surface_sliders(config, lambda name: f"surface.{config.surface}.{name}")
    plan = preview.plan(config, sliders)
    runs = sum(len(i) for _, i in plan)
    start = time.perf_counter()
    run(config.get_surface(), config.optimizers, config.starts(), config.steps, compiled=True)
    preview.payload(config, sliders, generation=0)
    print(f"kernels ready after {time.perf_counter() - start:.1f} s (compiled or loaded once)")

    generations = iter(range(1, 10**6))

    def whole():
        preview.payload(config, sliders, next(generations))  # a generation of its own: nothing kept

    released = dataclasses.replace(config, optimizers=(*config.optimizers[:4], get_optimizer("adam", lr=0.04)))
    released_sliders = preview.page_sliders(released, keys)
    redo = [s for s in released_sliders if s.config == 4 and s.axis != "lr"]

    def after_release() -> float:
        preview.ENTRIES.clear()
        preview.payload(config, sliders, 0)  # the entries the page had ...
        start = time.perf_counter()
        preview.payload(released, released_sliders, 0)  # ... and what the rerun adds
        return time.perf_counter() - start

    whole_ms = _median_ms(whole, args.repeats)
    each = {f"{'surface' if s.config == preview.SURFACE else s.config}.{s.axis}":
            _median_ms(lambda s=s, idx=idx: preview._compute(config, [(s, idx)]), args.repeats) for s, idx in plan}
    slowest = max(each, key=each.get)
    release_ms = 1e3 * statistics.median(after_release() for _ in range(args.repeats))
    page_ms = _median_ms(lambda: run(config.get_surface(), config.optimizers, config.starts(), config.steps),
                         args.repeats)
    cache.AUTO = False  # the automatic choice on the array code, as OPTVIS_COMPILE=0 makes it
    array_ms = _median_ms(lambda: preview._compute(config, plan), max(1, args.repeats // 2))
    print(f"default view's whole preview ({runs} notches, {len(plan)} sliders, x {config.steps} steps): {whole_ms:.1f} ms "
          f"(target <= 100 ms: {'met' if whole_ms <= 100 else 'NOT met'})")
    print(f"each slider's preview ({len(each)} sliders): slowest {each[slowest]:.1f} ms ({slowest}), median "
          f"{statistics.median(each.values()):.1f} ms (target <= 100 ms: {'met' if each[slowest] <= 100 else 'NOT met'})")
    surface = {name: ms for name, ms in each.items() if name.startswith("surface.")}
    if surface:
        print("  surface sliders: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in surface.items()))
    print(f"after a release on Adam's lr ({len(redo)} sliders recomputed): {release_ms:.1f} ms "
          f"(target <= 100 ms: {'met' if release_ms <= 100 else 'NOT met'})")
    print(f"the page's own run: {page_ms:.1f} ms; the whole preview on the array code: {array_ms:.1f} ms "
          f"({array_ms / whole_ms:.1f}x the compiled path)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
