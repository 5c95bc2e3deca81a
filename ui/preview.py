"""The drag preview: engine runs at the notches of the sidebar's sliders, so that the map can draw
the path at a slider's position while the slider moves (ui/live_slider, ui/map_component.js).

For each of the first PREVIEW_CONFIGS optimizers and each of its sliders (an axis: lr, momentum,
beta1, eps, ...), the runs at that slider's notches with everything else as on the page: every
notch of the lr's log grid, AXIS_VALUES notches spread over each other slider. The learning
rates come first, then each optimizer's first other slider, then each one's second, and so on,
while the whole stays within PREVIEW_BUDGET trajectory-steps; what is left out is not previewed
(the map only draws what was computed). Each slider's entry is one vectorised engine run over its
notches (up to MAX_CONFIGS configurations), on the page's first start.

An axis's entry depends on the run's settings and on that optimizer with the axis left out (its
basis), not on where its own slider is: one computation serves every position of that slider,
for every session, and moving one slider leaves the other optimizers' entries as they were.
Entries are kept in a store of their own (ENTRIES), shared by every session.

A schedule's parameter (its axis "schedule.<name>": StepLR's gamma, a warm-up's start factor)
is previewed as a hyperparameter is. A surface parameter's slider (Rosenbrock's b, the quadratic's angle, ...) changes every path
and the surface itself: its entry holds, at each computed notch, the runs of all the page's
optimizers on that surface and the surface's image (a PREVIEW_RASTER-pixel raster of the same
bands and level lines as the map's), within a budget of its own (SURFACE_BUDGET).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from optimizers import MAX_CONFIGS, SCHEDULES, get_optimizer, run
from plots.contour import fate
from plots.playback_data import decimate_rows
from plots.raster import surface_image
from plots.typed import typed_arrays
from sweeps import sweep_axes, with_value

from . import widgets
from .shared_results import SharedResults
from .state import RunConfig, capped_steps

PREVIEW_CONFIGS = 6
AXIS_VALUES = 21  # notches previewed on a slider other than lr
MIN_LR_VALUES = 12  # fewer learning rates than this: no preview at all
PREVIEW_BUDGET = 300_000  # trajectory-steps of the runs of one page's preview
MAX_POINTS = 150  # points of a drawn preview path (decimated, corners kept): the entries are resent every rerun
ENTRIES = SharedResults(max_entries=512)  # one axis's paths: ~3 KB per notch
IMAGES = SharedResults(max_entries=1024)  # a surface slider's notch images, by surface and parameters: ~10 KB each
SURFACE = -1  # Slider.config of a surface parameter's slider
SURFACE_BUDGET = 300_000  # trajectory-steps of the surface sliders' runs, beside PREVIEW_BUDGET
MIN_SURFACE_VALUES = 5  # fewer notches than this within the budget: that slider is not previewed
SURFACE_POINTS = 100  # points of a drawn path of a surface slider's entry (it holds every configuration's)
PREVIEW_RASTER = 240  # pixels per side of a previewed surface's image (the map's own has plots.raster.RASTER)


@dataclass(frozen=True)
class Slider:
    """One previewable slider of the page: configuration `config`'s axis `axis` (a sweeps Axis
    name), or the surface's parameter `axis` when config is SURFACE, drawn with `notches` (its
    whole grid) at notch `index`; `id` is its session-state key (ui/live_slider's slider id)."""

    id: str
    config: int
    axis: str
    notches: tuple[float, ...]
    index: int


SCHEDULE_AXIS = "schedule."  # the axis of a schedule parameter's slider: "schedule.gamma"


def page_sliders(config: RunConfig, keys: list, schedule_keys: list | None = None) -> list[Slider]:
    """The live sliders of config's first PREVIEW_CONFIGS optimizers; keys[k](spec name) gives
    the session-state key of optimizer k's hyperparameter (its panel's hp_key), and
    schedule_keys[k](schedule, parameter) that of its schedule's parameters (sched_key)."""
    out = []
    for k, o in enumerate(config.optimizers[:PREVIEW_CONFIGS]):
        if o.info.closure_calls is not None:  # L-BFGS: up to max_iter inner iterations a step, too slow for many values
            continue
        specs = {s.name: s for s in o.info.specs}
        hp = dict(o.hparams)
        for name, axis in sweep_axes(o.name).items():
            spec = specs[axis.spec]
            value = hp[axis.spec] if axis.index is None else hp[axis.spec][axis.index]
            notches = _notches(spec, axis.index, value)
            if notches is not None and value in notches:
                key = keys[k](axis.spec) + ("" if axis.index is None else f"#{axis.index}")
                out.append(Slider(key, k, name, notches, notches.index(value)))
        if schedule_keys is not None:
            out += _schedule_sliders(k, o, schedule_keys[k])
    return out


def _schedule_sliders(k: int, o, key) -> list[Slider]:
    params, out = dict(o.schedule.params), []
    for spec in SCHEDULES[o.schedule.name].specs:
        value = params[spec.name]
        notches = _notches(spec, None, value) if spec.kind == "float" else None
        if notches is not None and value in notches:
            out.append(Slider(key(o.schedule.name, spec.name), k, SCHEDULE_AXIS + spec.name, notches, notches.index(value)))
    return out


def with_axis(o, axis: str, value: float):
    """Optimizer config `o` with `axis` (a sweeps Axis name, or SCHEDULE_AXIS + a schedule
    parameter) set to `value`; ValueError where that value cannot run."""
    if not axis.startswith(SCHEDULE_AXIS):
        return with_value(o, axis, value)
    params = {**dict(o.schedule.params), axis.removeprefix(SCHEDULE_AXIS): value}
    return get_optimizer(o.name, schedule=(o.schedule.name, params), l1=o.l1, l1_mode=o.l1_mode, **dict(o.hparams))


def surface_sliders(config: RunConfig, key) -> list[Slider]:
    """The live sliders of config's surface parameters (floats drawn as sliders); key(name) gives
    a parameter's session-state key. None when a configuration is L-BFGS's, which the preview
    does not run."""
    if not config.optimizers or any(o.info.closure_calls is not None for o in config.optimizers):
        return []
    surface, out = config.get_surface(), []
    for spec in surface.entry.specs:
        value = surface.params[spec.name]
        notches = _notches(spec, None, value) if spec.kind == "float" else None
        if notches is not None and value in notches:
            out.append(Slider(key(spec.name), SURFACE, spec.name, notches, notches.index(value)))
    return out


def _notches(spec, index: int | None, value: float) -> tuple[float, ...] | None:
    """The grid of the slider ui/widgets.spec_input draws for this value (None: not a slider)."""
    if spec.kind == "pair":
        return None if spec.log else widgets.linear_grid(*widgets.pair_notches(spec, value))
    if spec.log:
        return widgets.lr_grid(spec, value)
    notches = widgets.float_notches(spec, value)
    return None if notches is None else widgets.linear_grid(*notches)


def basis(config: RunConfig, slider: Slider) -> tuple:
    """What slider's entry depends on: the run's settings and steps, its optimizer with the axis
    left out (for a surface slider: the page's settings with that parameter left out), the axis
    and its notches."""
    if slider.config == SURFACE:
        params = tuple((name, None if name == slider.axis else v) for name, v in config.surface_params)
        return dataclasses.replace(config, surface_params=params), capped_steps(config), SURFACE, slider.axis, slider.notches
    o = config.optimizers[slider.config]
    if slider.axis.startswith(SCHEDULE_AXIS):
        name = slider.axis.removeprefix(SCHEDULE_AXIS)
        params = tuple((n, None if n == name else v) for n, v in o.schedule.params)
        blank = dataclasses.replace(o, schedule=dataclasses.replace(o.schedule, params=params), label="")
        return dataclasses.replace(config, optimizers=()), capped_steps(config), blank, slider.axis, slider.notches
    axis = sweep_axes(o.name)[slider.axis]
    hp = dict(o.hparams)
    hp[axis.spec] = None if axis.index is None else tuple(None if i == axis.index else v
                                                          for i, v in enumerate(hp[axis.spec]))
    blank = dataclasses.replace(o, hparams=tuple(hp.items()), label="")
    return dataclasses.replace(config, optimizers=()), capped_steps(config), blank, slider.axis, slider.notches


def basis_id(config: RunConfig, slider: Slider) -> str:
    return hashlib.sha256(repr(basis(config, slider)).encode()).hexdigest()[:16]


def plan(config: RunConfig, sliders: list[Slider]) -> list[tuple[Slider, tuple[int, ...]]]:
    """The sliders previewed and the notches computed for each, within PREVIEW_BUDGET: all
    learning rates first (every notch, or every k-th when they alone would pass the budget), then
    AXIS_VALUES notches of each other slider while the budget lasts, each optimizer's first
    other slider before any optimizer's second. Then the surface sliders, within SURFACE_BUDGET:
    each notch runs every configuration."""
    return _optimizer_plan(config, [s for s in sliders if s.config != SURFACE]) + _surface_plan(
        config, [s for s in sliders if s.config == SURFACE])


def _surface_plan(config: RunConfig, sliders: list[Slider]) -> list[tuple[Slider, tuple[int, ...]]]:
    """Each surface slider's notches (a log grid's all, AXIS_VALUES of a linear one) while SURFACE_BUDGET lasts."""
    per_notch = max(1, capped_steps(config)) * len(config.optimizers)
    left, out = SURFACE_BUDGET // per_notch, []
    for s in sliders:
        spec = next(p for p in config.get_surface().entry.specs if p.name == s.axis)
        indices = _spread(len(s.notches), min(left, len(s.notches) if spec.log else AXIS_VALUES))
        if len(indices) >= MIN_SURFACE_VALUES:
            out.append((s, indices))
            left -= len(indices)
    return out


def _optimizer_plan(config: RunConfig, sliders: list[Slider]) -> list[tuple[Slider, tuple[int, ...]]]:
    steps = max(1, capped_steps(config))
    lrs = [s for s in sliders if s.axis == "lr"]
    runs = PREVIEW_BUDGET // steps
    if lrs and runs // len(lrs) < MIN_LR_VALUES:
        return []
    out = [(s, _spread(len(s.notches), runs // len(lrs))) for s in lrs]
    left = runs - sum(len(i) for _, i in out)
    rank: dict[int, int] = {}
    others = []  # each optimizer's first slider after lr, then each one's second, ...
    for s in sliders:
        if s.axis != "lr":
            rank[s.config] = rank.get(s.config, 0) + 1
            others.append((rank[s.config], s))
    for _, s in sorted(others, key=lambda r: r[0]):
        indices = _spread(len(s.notches), AXIS_VALUES)
        if len(indices) <= left:
            out.append((s, indices))
            left -= len(indices)
    return out


def _spread(count: int, most: int) -> tuple[int, ...]:
    """Up to `most` indices of 0..count-1, evenly spread, both ends kept."""
    if count <= most:
        return tuple(range(count))
    return tuple(int(i) for i in np.unique(np.round(np.linspace(0, count - 1, max(2, most))).astype(np.int64)))


def payload(config: RunConfig, sliders: list[Slider], generation: int, only: set[str] | None = None) -> list[dict]:
    """The preview's entries for the page (see the module docstring), each
    {basis, indices, labels, paths, exact[, fates]}: paths[j] float32 [P, 2] is the run at notch
    indices[j], decimated for drawing, labels[j] its configuration's label (as the map's legend
    writes it); exact: the page runs that one start, so a notch's run is the page's own, and then
    fates[j] is that run's fate (plots.contour.fate: what the legend adds to the label). A surface
    slider's entry has paths[j * configs + k] and fates[j * configs + k], configuration k's run at
    notch indices[j], labels[j] the notch ("b = 10"), images[j] (a PNG data URI) covering
    bounds[j] = [x0, x1, y0, y1] and minima[j] the surface's known minima there, [[x, y], ...].
    Entries already in ENTRIES are not computed again. `only`: the ids of the sliders whose entries
    are wanted (None: all), of those that plan(config, sliders) previews, with the notches it gives."""
    todo = [(s, idx) for s, idx in plan(config, sliders) if only is None or s.id in only]
    keys = [(basis(config, s), generation) for s, _ in todo]
    missing = [(key, s, idx) for key, (s, idx) in zip(keys, todo) if key not in ENTRIES]
    computed = dict(zip((key for key, _, _ in missing), _compute(config, [(s, idx) for _, s, idx in missing])))
    entries = []
    for key, (s, idx) in zip(keys, todo):
        # kept for the sessions to come; one dropped since it was looked up is computed again alone
        entry = computed[key] if key in computed else None
        entries.append(ENTRIES.get(key, lambda entry=entry, s=s, idx=idx: entry or _compute(config, [(s, idx)])[0]))
    return [e for e in entries if e is not None]


def _compute(config: RunConfig, todo: list[tuple[Slider, tuple[int, ...]]]) -> list[dict | None]:
    """An entry per slider of `todo` (None when no notch of it gives a valid configuration), each
    from one engine run over its notches: one optimizer's rule at a time, so that the compiled
    kernels are the same few whatever the page holds."""
    surface, start, steps, exact = config.get_surface(), config.starts()[:1], capped_steps(config), len(config.starts()) == 1
    out = []
    for s, indices in todo:
        if s.config == SURFACE:
            out.append(_surface_entry(config, s, indices))
            continue
        o = config.optimizers[s.config]
        configs, kept = [], []
        for i in indices:
            try:
                configs.append(with_axis(o, s.axis, s.notches[i]))
            except ValueError:  # e.g. nesterov at momentum 0: that notch cannot run
                continue
            kept.append(i)
        if not configs:
            out.append(None)
            continue
        paths, fates = [], []
        for first in range(0, len(configs), MAX_CONFIGS):
            res = run(surface, configs[first:first + MAX_CONFIGS], start, steps, **config.run_kwargs())
            rows, stops = res.path[:, 0], res.stop_index()[:, 0]
            paths += [row[idx].astype(np.float32) for row, idx in zip(rows, decimate_rows(rows, stops, MAX_POINTS))]
            fates += [fate(res, k) for k in range(res.shape[0])]
        entry = typed_arrays({"indices": kept, "labels": [c.label for c in configs], "exact": exact, "paths": paths,
                              **({"fates": fates} if exact else {})})
        entry["basis"] = basis_id(config, s)
        out.append(entry)
    return out


def _notch_image(surface) -> dict:
    """The previewed image of `surface` (at one notch's parameters): the same for every setup of the
    optimizers on it, so kept apart from the entries, which depend on those."""
    # fast compression: this is per notch, and its file is fetched once
    return IMAGES.get((surface.entry.name, tuple(surface.params.items())),
                      lambda: surface_image(surface, PREVIEW_RASTER, compress_level=1)[0])


def _surface_entry(config: RunConfig, s: Slider, indices: tuple[int, ...]) -> dict | None:
    """The entry of surface slider `s` at its notches `indices`: at each, the page's run of every
    configuration on that surface (its first start) and the surface's image."""
    entry, params = config.get_surface().entry, dict(config.surface_params)
    kept, labels, paths, images, bounds, minima, fates = [], [], [], [], [], [], []
    for i in indices:
        try:
            surface = entry.create({**params, s.axis: s.notches[i]})
        except ValueError:  # a notch the surface refuses with the other parameters as they are
            continue
        notch = dataclasses.replace(config, surface_params=tuple(surface.params.items()))
        for first in range(0, len(config.optimizers), MAX_CONFIGS):
            res = run(surface, config.optimizers[first:first + MAX_CONFIGS], notch.starts()[:1], capped_steps(notch),
                      **notch.run_kwargs())
            rows, stops = res.path[:, 0], res.stop_index()[:, 0]
            paths += [row[idx].astype(np.float32) for row, idx in zip(rows, decimate_rows(rows, stops, SURFACE_POINTS))]
            fates += [fate(res, k) for k in range(res.shape[0])]
        image = _notch_image(surface)
        (x0, x1), (y0, y1) = surface.bounds
        kept.append(i)
        labels.append(f"{s.axis} = {s.notches[i]:g}")
        images.append(image["source"])
        bounds.append([float(x0), float(x1), float(y0), float(y1)])
        minima.append([[float(x), float(y)] for x, y in surface.minima])
    if not kept:
        return None
    exact = len(config.starts()) == 1
    out = typed_arrays({"indices": kept, "labels": labels, "exact": exact, "paths": paths,
                        "configs": len(config.optimizers), "images": images, "bounds": bounds,
                        "minima": minima, **({"fates": fates} if exact else {})})
    out["basis"] = basis_id(config, s)
    return out
