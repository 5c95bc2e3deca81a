"""L-BFGS (optimizers/lbfgs.py) against torch.optim.LBFGS in float64, step(closure) by step(closure).

The reference is torch's own optimizer: its closure sets the surface's loss and closed-form
gradient (tested against autograd in test_surfaces), so only the optimizer is compared. Every
closure call torch makes is recorded and compared with Result.evals.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from optimizers import get_optimizer, run
from optimizers.run import MAX_RUN_BYTES, run_bytes
from optimizers.torch_code import torch_code
from surfaces import get_surface

STEPS = 100
SETTINGS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"line_search_fn": "strong_wolfe", "lr": 0.5, "max_iter": 5, "max_eval": 7, "history_size": 2,
     "tolerance_grad": 1e-9, "tolerance_change": 1e-12},
    {"lr": 0.1, "max_iter": 3, "history_size": 3, "tolerance_grad": 1e-9, "tolerance_change": 1e-12},
    {"lr": 1e-3, "max_iter": 4, "max_eval": 3, "history_size": 1},
]
CASES = {
    "rosenbrock": [[-1.5, 2.0], [0.5, -0.5], [2.0, 2.0]],
    "quadratic": [[-1.5, 2.0], [1.0, 1.0], [0.1, -2.0]],
    "himmelblau": [[0.3, -0.2], [-4.0, 4.0]],
}


def torch_run(surface, hp: dict, start, steps: int):
    """torch.optim.LBFGS from `start`: (path [steps + 1, 2], closure-call points per step)."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([p], **hp)
    calls: list[list] = []

    def closure():
        opt.zero_grad()
        with torch.no_grad():
            calls[-1].append(p.detach().clone().numpy())
            p.grad = surface.grad(p.detach(), torch)
            return surface.value(p.detach(), torch)

    path = [p.detach().clone().numpy()]
    for _ in range(steps):
        calls.append([])
        opt.step(closure)
        path.append(p.detach().clone().numpy())
    return np.array(path), calls


def _relative(a, b):
    return np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)), axis=-1)


def horizon(surface, hp, start, steps: int) -> int:
    """How many steps torch's own path from `start` stays within 1e-10 of its path from `start`
    moved by 1e-15 (relative): beyond it the comparison would test chaos, not the method."""
    a, _ = torch_run(surface, hp, start, steps)
    b, _ = torch_run(surface, hp, np.asarray(start) * (1 + 1e-15) + 1e-15, steps)
    apart = np.nonzero(_relative(b, a) > 1e-10)[0]
    return steps if len(apart) == 0 else int(apart[0]) - 1


@pytest.mark.parametrize("surface_name", sorted(CASES))
def test_paths_and_evaluations_equal_torch(surface_name):
    """Every setting and start in one run (K configurations x N starts advance together)."""
    surface = get_surface(surface_name)
    starts = CASES[surface_name]
    configs = [get_optimizer("lbfgs", **hp) for hp in SETTINGS]
    res = run(surface, configs, starts, STEPS, tol=0)
    assert res.evals.shape[:3] == (len(configs), len(starts), STEPS) and res.n_evals.shape == res.evals.shape[:3]
    stopped = []
    for k, config in enumerate(configs):
        for n, start in enumerate(starts):
            ref, calls = torch_run(surface, config.hp, start, STEPS)
            # all 100 steps, even where torch itself separates from a start moved by 1e-15 (see
            # test_torch_itself_separates_early_in_places): the engine follows torch's arithmetic.
            # A trajectory the runner marks diverged (loss > 1e12: lr 0.1 with 3 pairs flings one
            # start far up Rosenbrock's wall, from where torch comes back) is compared to that point.
            upto = int(res.stop_index()[k, n])
            stopped.append(upto < STEPS)
            np.testing.assert_array_less(_relative(res.path[k, n, :upto + 1], ref[:upto + 1]), 1e-10)
            if upto < STEPS:
                assert res.diverged_at[k, n] == upto + 1 and surface.value(ref[upto + 1], np) > 1e12
            counts = [len(c) for c in calls[:upto]]
            np.testing.assert_array_equal(res.n_evals[k, n, :upto], counts, err_msg=config.label)
            for t, points in enumerate(calls[:upto]):
                np.testing.assert_allclose(res.evals[k, n, t, :len(points)], np.array(points), rtol=1e-10, atol=1e-12)
                assert np.isnan(res.evals[k, n, t, len(points):]).all()
            # the first call of a step is at the step's starting point
            np.testing.assert_array_equal(res.evals[k, n, :upto, 0], res.path[k, n, :upto])
    assert sum(stopped) <= 1


@pytest.mark.parametrize(("surface_name", "setting", "start", "within"), [
    ("rosenbrock", 0, [-1.5, 2.0], 1), ("himmelblau", 0, [0.3, -0.2], 5), ("quadratic", 1, [1.0, 1.0], STEPS)])
def test_torch_itself_separates_early_in_places(surface_name, setting, start, within):
    """The horizon over which the comparison above is a test of the method and not of chaos: where
    torch's own path from a start moved by 1e-15 leaves its path by 1e-10 (measured here). Twenty
    unguarded inner iterations a step on Rosenbrock and Himmelblau part after 1 and 5 steps, so the
    engine's agreement over 100 steps there is agreement in torch's arithmetic, operation by operation."""
    assert horizon(get_surface(surface_name), get_optimizer("lbfgs", **SETTINGS[setting]).hp, start, STEPS) == within


def test_the_line_search_is_recorded():
    """With strong_wolfe the first steps on Rosenbrock try several points, and at least one step
    evaluates more than once before it moves (the search at work)."""
    surface = get_surface("rosenbrock")
    res = run(surface, get_optimizer("lbfgs", line_search_fn="strong_wolfe", max_iter=1, max_eval=10), [[-1.5, 2.0]],
              20, tol=0)
    _, calls = torch_run(surface, res.configs[0].hp, [-1.5, 2.0], 20)
    assert max(len(c) for c in calls) > 2  # torch's search took several trials in one step
    np.testing.assert_array_equal(res.n_evals[0, 0], [len(c) for c in calls])


def test_torch_backend_equals_numpy():
    surface = get_surface("rosenbrock")
    configs = [get_optimizer("lbfgs", **SETTINGS[1]), get_optimizer("lbfgs", **SETTINGS[3]), get_optimizer("adam", lr=0.01)]
    a = run(surface, configs, CASES["rosenbrock"][:2], 30, tol=0)
    b = run(surface, configs, CASES["rosenbrock"][:2], 30, tol=0, backend="torch")
    np.testing.assert_allclose(a.path, b.path, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(a.n_evals, b.n_evals)
    np.testing.assert_allclose(a.evals, b.evals, rtol=1e-12, atol=0, equal_nan=True)


def test_other_rows_have_no_evaluations_and_stopped_trajectories_none():
    surface = get_surface("quadratic")
    res = run(surface, [get_optimizer("adam", lr=0.05), get_optimizer("lbfgs", tolerance_grad=1e-12, tolerance_change=1e-20)],
              [[1.0, 1.0]], 50)
    assert (res.n_evals[0] == 0).all() and np.isnan(res.evals[0]).all()
    stop = int(res.stop_index()[1, 0])
    assert res.converged_at[1, 0] == stop == 1  # one step of L-BFGS solves the quadratic to 1e-8
    assert (res.n_evals[1, 0, :stop] >= 1).all() and (res.n_evals[1, 0, stop:] == 0).all()
    assert np.isnan(res.evals[1, 0, stop:]).all()
    with pytest.raises(ValueError, match="compiled=True"):  # array code only: no kernel traces a closure
        run(surface, [get_optimizer("lbfgs")], [[1.0, 1.0]], 5, compiled=True)
    # internals: the pairs count and the step length, one value per trajectory
    assert res.state_names[1] == ("d", "n_pairs", "t", "func_evals")
    assert res.state["n_pairs"][1, 0, 1, 0] == res.state["n_pairs"][1, 0, 1, 1] >= 1
    np.testing.assert_array_equal(res.eff_lr[1, 0, :stop], res.state["t"][1, 0, :stop])


def test_diverging_runs_stop_and_stay_finite():
    surface = get_surface("saddle")
    res = run(surface, [get_optimizer("lbfgs"), get_optimizer("lbfgs", line_search_fn="strong_wolfe")],
              surface.default_starts, 200)
    for a in (res.path, res.loss, res.grad, res.eff_lr, *res.state.values()):
        assert np.isfinite(a).all()
    assert (res.n_evals[res.stop_index()[..., None] <= np.arange(200)] == 0).all()


def test_memory_is_accounted_and_capped():
    surface = get_surface("rosenbrock")
    config = get_optimizer("lbfgs", line_search_fn="strong_wolfe", max_eval=12)
    res = run(surface, [config], CASES["rosenbrock"], 40, tol=0)
    assert res.evals.shape[3] == 13  # max_eval + 1: the search's first trial is always evaluated
    recorded = [res.path, res.loss, res.grad, res.grad_norm, res.eff_lr, *res.state.values(), res.ratio,
                res.ratio_defined, res.evals, res.n_evals]
    assert run_bytes([config], 3, 40) == sum(a.nbytes for a in recorded)
    big = get_optimizer("lbfgs", line_search_fn="strong_wolfe", max_eval=250)
    assert run_bytes([big], 1000, 1000) > MAX_RUN_BYTES > run_bytes([get_optimizer("adam")], 1000, 1000)
    with pytest.raises(ValueError, match="would record about"):
        run(surface, [big], np.zeros((1000, 2)), 1000)


@pytest.mark.parametrize(("hp", "message"), [
    ({"lr": -1.0}, r"lbfgs: lr=-1.0 is outside the allowed range \[0, 1000\]"),
    ({"max_iter": 0}, r"lbfgs: max_iter=0 is outside the allowed range \[1, 200\]"),
    ({"max_eval": 0}, r"lbfgs: max_eval=0 is outside the allowed range \[1, 250\] or None"),
    ({"max_eval": 2.5}, r"lbfgs: max_eval=2.5 must be a whole number"),
    ({"history_size": 0}, r"lbfgs: history_size=0 is outside the allowed range \[1, 200\]"),
    ({"tolerance_grad": -1e-7}, r"lbfgs: tolerance_grad=-1e-07 is outside the allowed range \[0, 1000\]"),
    ({"tolerance_change": float("nan")}, r"lbfgs: tolerance_change=nan is outside the allowed range"),
    ({"line_search_fn": "wolfe"}, r"lbfgs: line_search_fn='wolfe' is not allowed; allowed \{None, 'strong_wolfe'\}"),
    ({"max_evals": 3}, r"lbfgs: unknown parameter\(s\) max_evals; valid: lr, max_iter, max_eval"),
])
def test_validation_names_the_parameter_and_its_range(hp, message):
    with pytest.raises(ValueError, match=message):
        get_optimizer("lbfgs", **hp)


def test_defaults_are_torchs():
    torch_defaults = torch.optim.LBFGS([torch.zeros(2, requires_grad=True)]).defaults
    hp = get_optimizer("lbfgs").hp
    assert torch_defaults["max_eval"] == 25 and hp.pop("max_eval") is None  # torch's None: max_iter * 5 // 4
    assert all(torch_defaults[name] == value for name, value in hp.items())


def test_only_run_takes_it():
    from optimizers import run_final

    with pytest.raises(ValueError, match="run_final: lbfgs evaluates the loss within its step"):
        run_final(get_surface("rosenbrock"), [get_optimizer("lbfgs")], [[0.0, 0.0]], 10)


class _Surface(torch.autograd.Function):
    """The surface's value with its closed-form gradient as autograd's backward."""

    @staticmethod
    def forward(ctx, p, surface):
        ctx.save_for_backward(p)
        ctx.surface = surface
        return surface.value(p, torch)

    @staticmethod
    def backward(ctx, grad_output):
        (p,) = ctx.saved_tensors
        return grad_output * ctx.surface.grad(p, torch), None


@pytest.mark.parametrize(("hp", "clip"), [(SETTINGS[1], 50.0), (SETTINGS[2], None), ({"lr": 0.05, "max_iter": 3}, None)],
                         ids=["wolfe-clipped", "wolfe-short", "fixed"])
def test_copy_as_pytorch_runs_and_follows_the_engine(hp, clip):
    """The snippet's closure (clipping inside it, as the engine clips every evaluation) and its
    scheduler, run by torch, end where the engine ends."""
    surface, start, steps = get_surface("rosenbrock"), (-1.5, 2.0), 30
    config = get_optimizer("lbfgs", schedule=("cosine", {"T_max": 40}), **hp)
    code = torch_code(config, start=start, steps=steps, clip_norm=clip)
    assert "optimizer.step(closure)" in code
    dtype = torch.get_default_dtype()
    try:
        namespace: dict = {}
        exec(compile(code, "<snippet>", "exec"), namespace)
        final = namespace["train"](lambda p: _Surface.apply(p, surface), steps).detach().numpy()
    finally:
        torch.set_default_dtype(dtype)
    res = run(surface, [config], [start], steps, tol=0, clip_norm=clip)
    assert res.diverged_at[0, 0] == -1
    np.testing.assert_allclose(final, res.path[0, 0, -1], rtol=1e-10, atol=1e-12)


def test_the_app_lists_and_runs_lbfgs():
    """The 2-D page offers L-BFGS in an optimizer panel, with its own widgets; picking it and the
    strong-Wolfe search runs the engine's result and sends the evaluated points to the map."""
    import json

    from streamlit.testing.v1 import AppTest

    from ui import static_files

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
    assert not at.exception
    (box,) = [b for b in at.selectbox if b.key and b.key.endswith(".name")][:1]
    assert "L-BFGS" in box.options
    box.set_value("lbfgs").run()
    assert not at.exception, [e.message for e in at.exception]
    (search,) = [b for b in at.selectbox if b.key and b.key.endswith("line_search_fn")]
    search.set_value("strong_wolfe").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    cfg = at.session_state["config"]
    (lbfgs,) = [c for c in cfg.optimizers if c.name == "lbfgs"]
    assert lbfgs.hp["line_search_fn"] == "strong_wolfe"
    assert "lbfgs" in at.query_params["opt"] or any("lbfgs" in v for v in at.query_params["opt"])
    res = run(cfg.get_surface(), cfg.optimizers, cfg.starts(), cfg.steps, **cfg.run_kwargs())
    k = list(cfg.optimizers).index(lbfgs)
    (element,) = [e for e in at.get("bidi_component") if e.proto.component_name == "optvis_map"]
    proto = element.proto
    data = static_files.resolved(json.loads(proto.json if proto.WhichOneof("data") == "json" else proto.mixed.json))
    sent = data["runs"][k]
    assert sent["eval_slots"] == res.evals.shape[3]
    import base64

    points = np.frombuffer(base64.b64decode(sent["evals"]["bdata"]), dtype=np.float32).reshape(-1, res.evals.shape[3], 2)
    np.testing.assert_allclose(points[0], res.evals[k, 0, 0].astype(np.float32), equal_nan=True)


# --- the page's work cap (ui/state.py) -----------------------------------------------------------


@pytest.mark.parametrize(("hp", "swarm", "expected"), [
    ({}, 0, 250_000 // (20 * 100 * (1 + 1 / 80))),  # the default from one start: 123 of 500 steps
    ({}, 100, 250_000 // (20 * 100 * (1 + 100 / 80))),  # a swarm of 100: 55
    ({"history_size": 10, "max_iter": 5}, 0, 500),  # 50 passes a step: not capped
])
def test_the_page_caps_lbfgs_work(hp, swarm, expected):
    """steps x the sum of max_iter x history_size over the L-BFGS configurations x (1 + N / 80) <= 250,000."""
    from ui import state

    config = state.make_config(optimizers=(get_optimizer("lbfgs", **hp), get_optimizer("adam")), swarm=swarm)
    assert state.capped_steps(config) == state.lbfgs_steps(config) == int(expected)
    assert state.capped_steps(state.make_config(swarm=swarm)) == 500  # no L-BFGS: no such cap
    passes = config.optimizers[0].hp["max_iter"] * config.optimizers[0].hp["history_size"]
    two = state.make_config(optimizers=(get_optimizer("lbfgs", **hp),) * 2, swarm=swarm)
    assert state.lbfgs_steps(two) == min(500, int(250_000 // (2 * passes * (1 + (swarm or 1) / 80))))


def test_a_capped_swarm_runs_in_seconds():
    """The 100-start default swarm (over a minute uncapped at 500 steps): its capped run's wall time."""
    import time

    from ui import state

    config = state.make_config(optimizers=(get_optimizer("lbfgs"),), swarm=100)
    steps = state.capped_steps(config)
    started = time.perf_counter()
    run(config.get_surface(), config.optimizers, config.starts(), steps, **config.run_kwargs())
    seconds = time.perf_counter() - started
    print(f"L-BFGS swarm of 100, capped at {steps} steps: {seconds:.1f} s")
    assert steps == 55 and seconds < 60  # ~25 s on an idle core; a busy shared machine is slower


def test_the_page_says_what_it_capped_and_why():
    from tests.test_app import ok, page
    from ui import state

    config = state.make_config(optimizers=(get_optimizer("lbfgs", max_iter=200, history_size=200),), steps=40)
    at = ok(page(state.encode(config)))
    notes = [w.value for w in at.warning if "L-BFGS capped" in w.value]
    assert len(notes) == 1 and "6 of 40 steps" in notes[0] and "max_iter" in notes[0], [w.value for w in at.warning]


@pytest.mark.parametrize(("mode", "setting"), [("subgradient", 1), ("subgradient", 3), ("proximal", 3)])
def test_l1_on_the_surfaces_as_a_torch_closure_adding_it(mode, setting):
    """Subgradient: torch's closure returns f + l1 * |p|.sum() with its gradient (autograd's sign);
    proximal: the soft-threshold by lr * l1 after step(closure). 50 steps on Rosenbrock (whose
    minimum (1, 1) the term moves). Proximal with the line search (setting 1) is left out: there
    torch's own path from a start moved by 1e-15 parts by 1e-9 after 4 to 6 steps (measured)."""
    surface, l1, starts, steps = get_surface("rosenbrock"), 0.3, CASES["rosenbrock"][:2], 50
    hp = SETTINGS[setting]
    res = run(surface, [get_optimizer("lbfgs", l1=l1, l1_mode=mode, **hp), get_optimizer("lbfgs", **hp)],
              starts, steps, tol=0)
    for n, start in enumerate(starts):
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([p], **get_optimizer("lbfgs", **hp).hp)
        path = [p.detach().clone().numpy()]

        def closure(p=p, opt=opt):  # the surface's closed-form gradient (as torch_run), autograd's for the term
            opt.zero_grad()
            term = l1 * p.abs().sum() if mode == "subgradient" else p.sum() * 0.0
            term.backward()
            with torch.no_grad():
                p.grad = surface.grad(p.detach(), torch) + p.grad
                return surface.value(p.detach(), torch) + term.detach()

        for _ in range(steps):
            lr = opt.param_groups[0]["lr"]
            opt.step(closure)
            if mode == "proximal":
                with torch.no_grad():
                    p.copy_(torch.sign(p) * torch.clamp(p.abs() - lr * l1, min=0.0))
            path.append(p.detach().clone().numpy())
        np.testing.assert_allclose(res.path[0, n], np.array(path), rtol=1e-9, atol=1e-12, err_msg=f"{mode} {start}")
        assert np.abs(res.path[0, n] - res.path[1, n]).max() > 1e-3  # the term changed the path
