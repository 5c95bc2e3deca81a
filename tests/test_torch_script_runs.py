""""Copy as PyTorch" writes a script that runs as pasted and ends where optimizers.run ends.

Every script is written to a file and run by another Python process: the first test runs one file
as `python script.py`, exactly as pasted; the others run many files in one process (torch is
imported once), each by runpy in a fresh namespace as __main__. Each printed end point is compared
with the engine's end point for the same configuration, in float64, within RTOL of the path's
size. The script takes the loss's gradient from torch's autograd, the engine from the surface's
closed form: they differ by rounding, which the steps here do not amplify past RTOL (chaotic
settings run fewer steps).

Muon is the exception torch itself makes: torch.optim.Muon runs its Newton-Schulz iteration in
bfloat16, the app in float64 (README, tests/test_muon.py). Its script runs twice: with torch's
function patched to float64 (only its `grad.bfloat16()` cast replaced, as tests/test_muon.py
does), within RTOL; and as pasted, within MUON_BFLOAT16_GAP of the path's size (tests/test_muon.py
measures up to 3 % over 100 steps on Rosenbrock for its settings; 0.3 % for this one).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import runpy
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from optimizers import OPTIMIZERS, get_optimizer, run
from optimizers import SCHEDULES as ALL_SCHEDULES
from optimizers.torch_code import torch_script
from surfaces import SURFACES, get_surface

ROOT = Path(__file__).resolve().parents[1]
RTOL = 1e-9
MUON_BFLOAT16_GAP = 1e-2  # of the path's size; measured 2.8e-3 for MUON here

# Runs each script named on the command line by runpy, as __main__ in a fresh namespace, and
# prints {path: its output} as JSON; --float64-muon first patches torch's Muon as tests/test_muon.py.
RUNNER = """
import contextlib, inspect, io, json, runpy, sys
paths = sys.argv[1:]
if paths[0] == "--float64-muon":
    import torch.optim._muon as muon
    source = inspect.getsource(muon._zeropower_via_newtonschulz)
    assert source.count("grad.bfloat16()") == 1, "torch's Newton-Schulz changed: revisit this patch"
    namespace = dict(vars(muon))
    exec(source.replace("grad.bfloat16()", "grad.clone()"), namespace)
    muon._zeropower_via_newtonschulz = namespace["_zeropower_via_newtonschulz"]
    paths = paths[1:]
out = {}
for path in paths:
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        runpy.run_path(path, run_name="__main__")
    out[path] = text.getvalue()
print(json.dumps(out))
"""


@dataclass(frozen=True, eq=False)  # keyed by identity
class Case:
    """One script: an optimizer on a surface from a start, with the run's settings."""

    name: str
    hp: dict
    surface: str
    surface_params: dict = field(default_factory=dict)
    steps: int = 100
    start: tuple | None = None  # None: the surface's first default start
    settings: dict = field(default_factory=dict)  # noise, seed, clip_norm, clip_value, tol
    n_starts: int = 1

    @property
    def id(self) -> str:
        extra = "-".join(f"{k}={v}" for k, v in {**self.hp, **self.settings}.items() if k != "lr")
        return f"{self.name}-{self.surface}" + (f"-{extra}" if extra else "")

    def config(self):
        return get_optimizer(self.name, **self.hp)

    def get_surface(self):
        return get_surface(self.surface, **self.surface_params)

    def starts(self) -> np.ndarray:
        first = self.start or self.get_surface().default_starts[0]
        others = np.random.default_rng(1).uniform(-1, 1, (self.n_starts - 1, 2))
        return np.vstack([np.array(first, dtype=float)[None], others])

    def script(self) -> str:
        return torch_script(self.config(), self.get_surface(), start=tuple(self.starts()[0]), steps=self.steps,
                            n_starts=self.n_starts, **self.settings)

    def engine_end(self) -> tuple[np.ndarray, float]:
        """(the engine's end point of the first start [2], the size of its path)."""
        res = run(self.get_surface(), [self.config()], self.starts(), self.steps, compiled=False,
                  **{"tol": 0.0, **self.settings})
        assert res.diverged_at[0, 0] == -1, "pick a setting that stays finite"
        path = res.path[0, 0]
        return path[-1], float(np.max(np.abs(path)))


ROSENBROCK = ("rosenbrock", {"a": 1.5, "b": 50.0})
QUADRATIC = ("quadratic", {"condition": 20.0, "angle": -35.0})
CUSTOM = ("custom", {"f": "0.1*(x**2 + y**2) + sin(x)*cos(y) + abs(x)*exp(-pi)"})
REGRESSION = ("regression", {"n_samples": 60, "noise": 0.3, "seed": 4})
MINI_BATCH = ("regression", {"n_samples": 60, "noise": 0.3, "batch_size": 8, "seed": 4})

MUON = Case("muon", {"lr": 0.01}, *ROSENBROCK)
# Every optimizer, each on one surface at a learning rate it is stable with there.
EVERY_OPTIMIZER = [
    Case("sgd", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, *ROSENBROCK, steps=150),
    Case("gnsgd", {"lr": 0.05, "alpha": 0.5}, *QUADRATIC),
    Case("adagrad", {"lr": 0.3}, "himmelblau"),
    Case("rmsprop", {"lr": 1e-2, "centered": True, "momentum": 0.5}, "beale"),
    Case("adadelta", {"lr": 1.0}, "booth"),
    Case("adam", {"lr": 1e-2, "amsgrad": True}, *ROSENBROCK, steps=150),
    Case("adamw", {"lr": 1e-2, "weight_decay": 0.1}, "six_hump_camel"),
    Case("adamax", {"lr": 2e-2}, *CUSTOM),
    Case("nadam", {"lr": 1e-2}, "rastrigin", {"A": 3.0}, steps=60),
    Case("radam", {"lr": 1e-2}, "ackley", steps=60),
    Case("lion", {"lr": 1e-3, "betas": (0.8, 0.95), "weight_decay": 0.5}, *ROSENBROCK),
    Case("rprop", {"lr": 1e-3}, *QUADRATIC),
    Case("asgd", {"lr": 1e-3, "t0": 20.0}, "booth"),
    Case("adafactor", {"lr": 3e-3}, *ROSENBROCK),
    MUON,
    Case("newton", {"lr": 0.7, "damping": 2.0}, "himmelblau", steps=30),
    Case("prodigy", {"lr": 1.0}, *QUADRATIC),
    Case("sgd_schedule_free", {"lr": 1e-2, "warmup_steps": 10}, *REGRESSION),
    Case("adamw_schedule_free", {"lr": 1e-2}, "beale"),
    Case("lbfgs", {"lr": 1.0, "line_search_fn": "strong_wolfe"}, *ROSENBROCK, steps=20),
]
SCHEDULES = [
    Case("sgd", {"lr": 1e-3, "momentum": 0.9, "schedule": ("cosine", {"T_max": 60})}, *ROSENBROCK, steps=150),
    Case("adam", {"lr": 3e-2, "schedule": ("onecycle", {"total_steps": 80})}, *QUADRATIC),
    Case("adam", {"lr": 1e-2, "schedule": ("warmup_cosine", {"warmup_steps": 20, "T_max": 100})}, "himmelblau"),
    Case("rmsprop", {"lr": 1e-2, "schedule": ("inverse_sqrt", {"alpha": 0.1})}, *CUSTOM),
    Case("lbfgs", {"lr": 0.5, "max_iter": 5, "schedule": ("step", {"step_size": 5, "gamma": 0.5})}, *QUADRATIC,
         steps=20),
]
SETTINGS = [
    Case("adam", {"lr": 1e-2}, "saddle", steps=60),
    Case("sgd", {"lr": 1e-2, "momentum": 0.5}, "monkey_saddle", steps=40),
    Case("sgd", {"lr": 1e-3, "momentum": 0.9}, *ROSENBROCK, settings={"noise": 0.5, "seed": 3, "clip_norm": 5.0}),
    Case("adam", {"lr": 1e-2}, "beale", settings={"noise": 0.2, "seed": 7, "clip_value": 0.5}, n_starts=3),
    Case("adam", {"lr": 1e-2, "l1": 0.5}, *ROSENBROCK),
    Case("sgd", {"lr": 1e-3, "l1": 0.5, "l1_mode": "proximal"}, *ROSENBROCK),
    Case("lbfgs", {"lr": 0.1, "max_iter": 4}, *QUADRATIC, steps=20, settings={"noise": 0.1, "clip_value": 0.5}),
    Case("sgd", {"lr": 0.05, "momentum": 0.5}, *MINI_BATCH, settings={"noise": 0.1, "seed": 2}),
    Case("lbfgs", {"lr": 0.2, "max_iter": 3}, *MINI_BATCH, steps=20),
    Case("newton", {"lr": 0.5}, *MINI_BATCH, steps=20),
    # tol: the app stops at the first point whose gradient norm is below it
    Case("newton", {"lr": 1.0}, *QUADRATIC, steps=10, settings={"tol": 1e-8}),
    Case("sgd", {"lr": 0.05}, "booth", settings={"tol": 1e-3}),
    Case("adam", {"lr": 0.1, "l1": 0.01}, "booth", steps=300, settings={"tol": 0.05}),
    Case("lbfgs", {"lr": 1.0}, *QUADRATIC, steps=20, settings={"tol": 1e-6}),
    Case("sgd", {"lr": 0.1}, *MINI_BATCH, steps=300, settings={"tol": 0.5}),
]
CASES = EVERY_OPTIMIZER + SCHEDULES + SETTINGS
# L-BFGS with the L1 penalty: its closure's loss and gradient hold the subgradient term, and the
# proximal step follows optimizer.step(closure) (optimizers.run once missed both)
LBFGS_L1 = [Case("lbfgs", {"lr": 0.1, "max_iter": 4, "l1": 0.2}, *QUADRATIC, steps=20),
                Case("lbfgs", {"lr": 0.1, "max_iter": 4, "l1": 0.2, "l1_mode": "proximal"}, *QUADRATIC, steps=20)]


def end_point(output: str) -> np.ndarray:
    """The point the script printed last ("end point: [x, y]")."""
    (line,) = [line for line in output.splitlines() if line.startswith("end point: ")]
    return np.array(json.loads(line.removeprefix("end point: ")), dtype=float)


def run_scripts(cases: list[Case], tmp_path, *flags: str) -> dict[Case, np.ndarray]:
    """Each case's script run by RUNNER in one process: {case: its printed end point}."""
    paths = {}
    for i, case in enumerate(cases):
        paths[case] = tmp_path / f"script_{i}.py"
        paths[case].write_text(case.script())
    done = subprocess.run([sys.executable, "-c", RUNNER, *flags, *map(str, paths.values())],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    return {case: end_point(out[str(path)]) for case, path in paths.items()}


@pytest.fixture(scope="module")
def ends(tmp_path_factory) -> dict[Case, np.ndarray]:
    """Every case's end point, torch's Muon patched to float64 (no other script uses it)."""
    return run_scripts(CASES + LBFGS_L1, tmp_path_factory.mktemp("scripts"), "--float64-muon")


def assert_ends_agree(script_end, case: Case, rtol: float = RTOL):
    engine_end, scale = case.engine_end()
    np.testing.assert_allclose(script_end, engine_end, rtol=rtol, atol=rtol * max(scale, 1e-300), err_msg=case.id)


def test_every_optimizer_and_surface_is_covered():
    assert {c.name for c in EVERY_OPTIMIZER} == set(OPTIMIZERS)
    assert {c.surface for c in CASES} == set(SURFACES)


@pytest.mark.parametrize(("case", "rtol"), [(SCHEDULES[0], RTOL), (MUON, MUON_BFLOAT16_GAP)],
                         ids=lambda c: getattr(c, "id", ""))
def test_a_script_runs_as_pasted(case, rtol, tmp_path):
    """`python script.py` in an empty folder, nothing else: it imports what it needs, trains and
    prints its end point (Muon's: torch's bfloat16 Newton-Schulz, unpatched)."""
    path = tmp_path / "pasted.py"
    path.write_text(case.script())
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_ends_agree(end_point(done.stdout), case, rtol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_script_ends_where_the_engine_ends(ends, case):
    assert_ends_agree(ends[case], case)


@pytest.mark.parametrize("case", LBFGS_L1, ids=lambda c: c.id)
def test_lbfgs_with_l1_ends_where_its_script_ends(ends, case):
    assert_ends_agree(ends[case], case)


@pytest.fixture
def restore_dtype():
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


@pytest.mark.parametrize("case", [Case("sgd", {"lr": 1e-4}, name, steps=1) for name in SURFACES]
                         + [Case("sgd", {"lr": 1e-4}, *given, steps=1) for given in (ROSENBROCK, QUADRATIC, CUSTOM,
                                                                                    REGRESSION, MINI_BATCH)],
                         ids=lambda c: f"{c.surface}-{c.surface_params}")
def test_loss_fn_is_the_surface(case, restore_dtype, tmp_path):
    """The script's loss_fn has the surface's value, and autograd's gradient of it the surface's
    closed-form (full-batch) gradient, at the surface's default starts."""
    path = tmp_path / "script.py"
    path.write_text(case.script())
    with contextlib.redirect_stdout(io.StringIO()):
        namespace = runpy.run_path(str(path), run_name="__main__")
    surface = case.get_surface()
    points = np.array(surface.default_starts, dtype=float)
    for point in points:
        p = torch.tensor(point, requires_grad=True)
        value = namespace["loss_fn"](p)
        (grad,) = torch.autograd.grad(value, p)
        np.testing.assert_allclose(value.item(), surface.value(point), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grad.numpy(), surface.grad(point), rtol=1e-10, atol=1e-10)



def test_the_page_shows_the_script_of_its_run(tmp_path, restore_dtype):
    """The 2-D page's "Copy as PyTorch" blocks are these scripts for the page's own run (its start,
    steps, noise, clipping and tol): each, run, ends where the page's run of that optimizer ends."""
    from streamlit.testing.v1 import AppTest

    from ui import state

    cfg = state.make_config("quadratic", {"condition": 20.0, "angle": -35.0}, steps=120, noise=0.1, seed=3,
                            clip_norm=5.0, optimizers=(get_optimizer("adam", lr=0.05), get_optimizer("lbfgs", lr=0.5)))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for name, value in state.encode(cfg).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    scripts = [block.value for block in at.code if "train(loss_fn)" in block.value]
    assert len(scripts) == len(cfg.optimizers)
    res = run(cfg.get_surface(), cfg.optimizers, cfg.starts(), cfg.steps, compiled=False, **cfg.run_kwargs())
    for k, script in enumerate(scripts):
        path = tmp_path / f"page_{k}.py"
        path.write_text(script)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            runpy.run_path(str(path), run_name="__main__")
        scale = float(np.max(np.abs(res.path[k, 0])))
        np.testing.assert_allclose(end_point(printed.getvalue()), res.path[k, 0, -1], rtol=RTOL, atol=RTOL * scale)


def _code_tokens(script: str) -> list[tuple[int, str]]:
    """The script's tokens without its comments and docstrings: the code Python runs."""
    import tokenize

    tokens = tokenize.generate_tokens(io.StringIO(script).readline)
    return [(t.type, t.string) for t in tokens if t.type != tokenize.COMMENT
            and not (t.type == tokenize.STRING and t.string.startswith('"""'))]


# Comments that are code, not words: they stay as written in every language.
CODE_COMMENTS = ("pip install ", "scheduler.step(val_loss)", "A = R(angle) diag(1/condition, 1) R(angle)^T")
EVERY_SCHEDULE = [Case("sgd", {"lr": 1e-3, "schedule": (name, {})}, "booth", steps=20)
                  for name in ALL_SCHEDULES if name not in ("constant", "sequential")]


@pytest.mark.parametrize("case", CASES + LBFGS_L1 + EVERY_SCHEDULE, ids=lambda c: c.id)
def test_every_comment_of_the_chinese_script_is_chinese(case, monkeypatch):
    from ui import i18n

    monkeypatch.setattr(i18n, "lang", lambda: "zh")
    script = i18n.code_comments(case.script())
    words = [line.split("#", 1)[1].strip() for line in script.splitlines() if "#" in line]
    words += [line.strip().strip('"') for line in script.splitlines() if line.strip().startswith('"""')]
    left = [w for w in words if not re.search(r"[\u4e00-\u9fff]", w) and not w.startswith(CODE_COMMENTS)]
    assert not left, left


@pytest.mark.parametrize("case", [SETTINGS[3], SETTINGS[9]], ids=lambda c: c.id)
def test_the_chinese_script_runs_as_pasted_and_ends_where_the_english_one_does(case, tmp_path, monkeypatch):
    """#14: with lang=zh the page shows the script with Chinese comments (i18n.code_comments):
    the same code, token for token, and pasted it prints the English script's end point."""
    from ui import i18n

    english = case.script()
    monkeypatch.setattr(i18n, "lang", lambda: "zh")
    chinese = i18n.code_comments(english)
    assert chinese != english and _code_tokens(chinese) == _code_tokens(english)
    comments = [line.split("#", 1)[1] for line in chinese.splitlines() if "#" in line and "pip install" not in line]
    assert comments and all(re.search(r"[\u4e00-\u9fff]", c) for c in comments), comments
    printed = {}
    for lang, script in (("en", english), ("zh", chinese)):
        path = tmp_path / f"pasted_{lang}.py"
        path.write_text(script, encoding="utf-8")
        done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        printed[lang] = end_point(done.stdout)
    np.testing.assert_array_equal(printed["zh"], printed["en"])
    assert_ends_agree(printed["zh"], case)
