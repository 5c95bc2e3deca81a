"""The custom surface: a typed f(x, y), its exact gradient, its refusals, its link and its page.

Values and gradients are checked against the same functions written here in Torch, with the
gradient from autograd; refusals against hostile input (code injection, inputs that would make
the parser or SymPy's exact arithmetic explode), which must be fast and must run nothing.
"""

import base64
import builtins
import json
import os
import pickle
import subprocess
import time
import urllib.parse
from pathlib import Path

import array_api_compat.torch as xpt
import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from optimizers import get_optimizer, run
from surfaces import expression, get_surface
from surfaces.custom import DEFAULT_FORMULA
from ui import state

ROOT = Path(__file__).resolve().parents[1]
WIDE, POSITIVE = (-2.5, 2.5), (0.2, 2.5)

# (typed text, the same function in Torch, where to sample it)
FUNCTIONS = [
    ("sin(x)*y**2 + 0.1*(x**2+y**2)", lambda x, y: torch.sin(x) * y**2 + 0.1 * (x**2 + y**2), WIDE),
    ("log(1+x**2) + y", lambda x, y: torch.log(1 + x**2) + y, WIDE),
    ("abs(x) + abs(y - 1)", lambda x, y: torch.abs(x) + torch.abs(y - 1), WIDE),
    ("exp(-(x**2 + y**2)/2)*cos(3*x)", lambda x, y: torch.exp(-(x**2 + y**2) / 2) * torch.cos(3 * x), WIDE),
    ("tanh(x*y) + sqrt(1 + x**2 + y**2)", lambda x, y: torch.tanh(x * y) + torch.sqrt(1 + x**2 + y**2), WIDE),
    ("(1 - x)**2 + 100*(y - x**2)**2", lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2, WIDE),
    ("sinh(x/2)*cosh(y/3) - tan(x/4)", lambda x, y: torch.sinh(x / 2) * torch.cosh(y / 3) - torch.tan(x / 4), WIDE),
    ("-x**3 + 3*x*y**2", lambda x, y: -(x**3) + 3 * x * y**2, WIDE),
    ("+x - -y + pi*x**2 + e*y**2", lambda x, y: x + y + torch.pi * x**2 + np.e * y**2, WIDE),
    ("1/(1 + x**2 + y**2)", lambda x, y: 1 / (1 + x**2 + y**2), WIDE),
    ("((x**2 + 1)**2 + y)**2", lambda x, y: ((x**2 + 1) ** 2 + y) ** 2, WIDE),
    ("x**-2 + y**(1/3)", lambda x, y: x**-2 + y ** (1 / 3), POSITIVE),
    ("2**x + x**y", lambda x, y: 2**x + x**y, POSITIVE),
    ("x**2.5 * y**1.5 + x**0.3", lambda x, y: x**2.5 * y**1.5 + x**0.3, POSITIVE),
    ("x/y - y/x + exp(x)*log(y)", lambda x, y: x / y - y / x + torch.exp(x) * torch.log(y), POSITIVE),
]


def _points(domain, n=64, seed=0):
    return np.random.default_rng(seed).uniform(*domain, size=(n, 2))


@pytest.mark.parametrize(("text", "reference", "domain"), FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_value_and_gradient_match_torch_autograd(text, reference, domain):
    s = get_surface("custom", f=text)
    p = _points(domain)
    t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    expected_value = reference(t[:, 0], t[:, 1])
    expected_value.sum().backward()
    expected_value, expected_grad = expected_value.detach().numpy(), t.grad.numpy()
    np.testing.assert_allclose(s.value(p), expected_value, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(s.grad(p), expected_grad, rtol=1e-12, atol=1e-12)
    g = s.grad(torch.tensor(p, dtype=torch.float64), xpt)
    assert isinstance(g, torch.Tensor) and g.dtype == torch.float64
    np.testing.assert_allclose(g.numpy(), expected_grad, rtol=1e-12, atol=1e-12)
    assert s.grad(p.reshape(8, 8, 2)).shape == (8, 8, 2)


def test_constant_partial_derivatives_take_the_shape_of_the_points():
    s = get_surface("custom", f="x + 2*y")
    p = _points(WIDE).reshape(4, 16, 2)
    assert s.grad(p).shape == (4, 16, 2) and np.all(s.grad(p) == [1.0, 2.0])
    assert get_surface("custom", f="x**2").grad(p)[..., 1].shape == (4, 16)


def test_surface_metadata_equality_and_pickle():
    s = get_surface("custom", f="sin(x)*y**2", xmin=-5.0, xmax=1.0)
    assert s.latex == r"f(x, y) = y^{2} \sin{\left(x \right)}"
    assert s.bounds == ((-5.0, 1.0), (-3.0, 3.0)) and s.minima == () and s.saddles == () and s.min_value is None
    (x0, x1), (y0, y1) = s.bounds
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in s.default_starts)
    assert s == get_surface("custom", f="sin(x)*y**2", xmin=-5.0, xmax=1.0) != get_surface("custom", f="sin(x)*y**2")
    copy = pickle.loads(pickle.dumps(s))
    assert copy == s and hash(copy) == hash(s)
    p = _points(WIDE)
    np.testing.assert_array_equal(copy.grad(p), s.grad(p))
    assert get_surface("custom").params["f"] == DEFAULT_FORMULA
    with pytest.raises(ValueError, match="xmin=2 must be below xmax=1"):
        get_surface("custom", xmin=2.0, xmax=1.0)
    with pytest.raises(ValueError, match="custom: ymax=5000.*outside"):
        get_surface("custom", ymax=5000.0)
    with pytest.raises(ValueError, match="custom: f=1 must be a string"):
        get_surface("custom", f=1)


# --- refusals ----------------------------------------------------------------------------------------------

CAP = expression.MAX_LENGTH
REFUSED = [
    ("x.__class__", "attribute access"),
    ("().__class__.__bases__", "attribute access"),
    ("x[0]", "subscripts"),
    ("lambda: x", "lambda"),
    ("[x for x in y]", "comprehensions"),
    ("sum(x for x in y)", "calls 'sum'"),
    ("open('/etc/passwd')", "calls 'open'"),
    ("__import__('os').system('id')", "attribute access"),
    ("__import__('os')", "calls '__import__'"),
    ("sin(x, y)", "sin with 2 arguments"),
    ("sin(x=1)", "keyword arguments"),
    ("sin(*x)", "starred"),
    ("exp(**x)", "keyword arguments"),
    ("z + 1", "the name 'z'"),
    ("__builtins__", "the name '__builtins__'"),
    ("'x'", "strings"),
    ("b'x'", "bytes"),
    ("f'{x}'", "strings"),
    ("1j * x", "complex numbers"),
    ("True * x", "True and False"),
    ("x if y else 1", "if-else"),
    ("x < y", "comparisons"),
    ("x and y", "and/or"),
    ("(x, y)", "tuples"),
    ("(z := x)", "assignments"),
    ("x % 2", "'%'"),
    ("x // 2", "'//'"),
    ("x ^ 2", "write powers as x**2"),
    ("~x", "'~'"),
    ("not x", "'not'"),
    ("x**11", "constant exponents up to 10"),
    ("x**-10.5", "constant exponents up to 10"),
    ("9**9**9**9", "a power in an exponent"),
    ("x**y**2", "a power in an exponent"),
    ("(((x**2)**2)**2)**2", "nests powers more than 3 deep"),
    ("1e7 * x", "numbers up to 1,000,000"),
    ("1e999 * x", "numbers up to 1,000,000"),
    ("x+" * 50 + "x", "has 101 names, numbers, operations and calls; at most 100"),
    ("-" * 31 + "x", "nested more than 30 deep"),
    ("x" * (CAP + 1), f"at most {CAP} are allowed"),
    ("sin(x) + é", "only printable ASCII"),
    ("x\ny", "only printable ASCII"),
    ("x\x00", "only printable ASCII"),
    ("", "is empty"),
    ("   ", "is empty"),
    ("x +", "is not a formula Python can read"),
    ("3 + pi", "is a constant"),
    ("sqrt(-1) * x", "not a finite real function"),
    ("log(0) + x", "not a finite real function"),
    ("x / 0", "not a finite real function"),
    ("exp(1000000) * x", "not a finite real number"),
    ("x**(1e6**10)", "a power in an exponent"),
    ("(1e6**10)**10 * ((1e6**10)**10) * x", "not a finite real number"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED, ids=[repr(t[:30]) for t, _ in REFUSED])
def test_refusals_say_what_is_not_allowed(text, message):
    with pytest.raises(ValueError, match="^custom: f=") as info:
        get_surface("custom", f=text)
    assert message in str(info.value)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("text", [
    "x" + " " * (CAP - 1),  # exactly the length cap
    "x**10 + y**-10",
    "1000000*x",
    "(" * 14 + "x" + "+1)" * 14,  # depth 29: 14 additions in 14 parentheses
    "-" * 29 + "x",
    "((x**2 + 1)**2 + 1)**2",
    "+".join(["x"] * 50),  # 99 nodes; a sum counts once towards the depth
    "*".join(["sin(y)"] * 28),  # a product of 28 factors, depth 3
])
def test_inputs_at_the_caps_are_accepted(text):
    s = get_surface("custom", f=text)
    assert np.all(np.isfinite(s.grad(_points(WIDE))))


# What injection attempts and explosions look like; each must be refused, fast, running nothing.
HOSTILE = [
    "__import__('os').system('touch {sentinel}')",
    "open('{sentinel}', 'w')",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "exec('import os')",
    "eval('1+1')",
    "getattr(x, '__class__')",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "9**9**9**9",
    "(" * 10_000 + "x" + ")" * 10_000,
    "x+" * 500_000 + "x",  # a megabyte
    "-" * 100_000 + "x",
    "sin(" * 5000 + "x" + ")" * 5000,
    "x**" + "(" * 100 + "9" + ")" * 100,
]


@pytest.mark.parametrize("template", HOSTILE, ids=[repr(t[:30]) for t in HOSTILE])
def test_injections_and_explosions_are_refused_fast_and_run_nothing(template, tmp_path, monkeypatch):
    sentinel = tmp_path / "ran"
    text = template.replace("{sentinel}", str(sentinel))
    calls = []

    def spy(name):
        def record(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called")
        return record

    real_import = builtins.__import__

    def watched_import(name, *args, **kwargs):
        if name.split(".")[0] in ("os", "posix", "subprocess", "shutil", "pty", "builtins"):
            calls.append(f"import {name}")
        return real_import(name, *args, **kwargs)

    expression._function.cache_clear()
    with monkeypatch.context() as patched:
        for module, name in ((os, "system"), (os, "popen"), (subprocess, "Popen"), (builtins, "open"),
                             (builtins, "eval"), (builtins, "exec")):
            patched.setattr(module, name, spy(name))
        patched.setattr(builtins, "__import__", watched_import)
        start = time.perf_counter()
        with pytest.raises(ValueError, match="^custom: f="):
            get_surface("custom", f=text)
        elapsed = time.perf_counter() - start
    assert elapsed < 0.1, f"{elapsed:.3f} s"
    assert not calls and not sentinel.exists()


@pytest.mark.parametrize("text", ["(" * 10_000 + "x" + ")" * 10_000, "-" * 100_000 + "x", "x+" * 50_000 + "x"])
def test_the_parser_is_guarded_even_without_the_length_cap(text, monkeypatch):
    """Past the length cap, Python's parser itself refuses deep nesting (SyntaxError, RecursionError):
    caught and reported, never a crash."""
    monkeypatch.setattr(expression, "MAX_LENGTH", 10**7)
    with pytest.raises(ValueError, match="nested|not a formula|at most 100"):
        expression.parse(text)


def test_adversarial_accepted_inputs_stay_cheap():
    """Inputs within every cap but as costly as they get for SymPy: exact integers 10^6000 folded,
    long products differentiated."""
    for text in ("((999999**10)**10)**(1/3) * x", "sqrt((999999**10)**10) * x + y",
                 "*".join(["sin(x+y)"] * 20), "exp(exp(exp(exp(exp(x)))))*tanh(tanh(tanh(y)))**2"):
        expression._function.cache_clear()
        start = time.perf_counter()
        try:
            get_surface("custom", f=text)
        except ValueError:
            pass
        assert time.perf_counter() - start < 1.0, text


# --- the engine's three paths ---------------------------------------------------------------------------

EVERY_FUNCTION = ("tanh(x)*cosh(y/3) + sinh(x/4)*tan(y/4) + abs(x - y) + sqrt(x**2 + 1)**3 / 10"
                  " + exp(-y**2)*log(1 + x**2) + 2**x/10 + (1 + x**2)**(y/4) + x**2.5/(1 + abs(x))")


def test_compiled_kernels_and_torch_match_the_array_code():
    s = get_surface("custom", f=EVERY_FUNCTION)
    configs = [get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=1e-2, momentum=0.9)]
    starts = np.array(s.default_starts)
    slow = run(s, configs, starts, 100, compiled=False)
    fast = run(s, configs, starts, 100, compiled=True)
    torch_run = run(s, configs, starts, 100, backend="torch")
    for other in (fast, torch_run):
        for field in ("path", "loss", "grad", "diverged_at", "converged_at"):
            np.testing.assert_allclose(getattr(other, field), getattr(slow, field), rtol=1e-12, atol=0, err_msg=field)
    assert np.all(np.isfinite(slow.path[..., :40, :]))  # x**2.5 is nan left of 0: some paths may stop there


def test_the_tracer_emits_the_functions_typed_formulas_need():
    from optimizers.kernels.tracer import Emitter, TraceXP, leaf

    with Emitter("v") as em:
        x = leaf("x", traj=True)
        for name in ("tan", "sinh", "cosh", "tanh", "sign"):
            getattr(TraceXP, name)(x)
    assert em.lines[:4] == ["v0 = math.tan(x)", "v1 = math.sinh(x)", "v2 = math.cosh(x)", "v3 = math.tanh(x)"]
    assert em.lines[4].startswith("v4 = (") and "x - x" in em.lines[4]  # sign as one conditional expression
    assert [TraceXP.sign(v) for v in (-2.0, 0.0, 3.0)] == [-1.0, 0.0, 1.0] and TraceXP.tanh(0.0) == 0.0


# --- links and the page ----------------------------------------------------------------------------------


def test_link_round_trip_through_a_real_query_string():
    cfg = state.make_config("custom", {"f": "sin(x)*y**2 + 0.1*(x**2+y**2) - x/3", "xmin": -4.5, "ymax": 2.0})
    params = state.encode(cfg)
    assert params["surface"] == "custom" and params["custom.f"] == cfg.get_surface().params["f"]
    query = urllib.parse.parse_qs(urllib.parse.urlencode(params, doseq=True), keep_blank_values=True)
    decoded, _, notes = state.decode(query)
    assert decoded == cfg and notes == []


def test_a_refused_function_in_a_link_falls_back_with_a_note():
    decoded, _, notes = state.decode({"surface": ["custom"], "custom.f": ["__import__('os').system('id')"]})
    assert decoded.surface == "custom" and dict(decoded.surface_params)["f"] == DEFAULT_FORMULA
    assert len(notes) == 1 and "attribute access" in notes[0] and "default parameters" in notes[0]


def _page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def _typed(value) -> np.ndarray:
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])


def _drawn(at: AppTest) -> tuple[np.ndarray, np.ndarray]:
    """(points [M, 2], f there) as the page sent them: the paths' points and losses the map
    component shows, or the server-drawn map's click grid."""
    from tests.test_app import component_data

    data = component_data(at)
    if data is not None:
        xy = np.concatenate([_typed(r["path"]).reshape(-1, 2) for r in data["runs"]])
        return xy, np.concatenate([_typed(r["loss"]) for r in data["runs"]])
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            if trace.get("meta", {}).get("role") == "click":
                return np.stack([_typed(trace["x"]), _typed(trace["y"])], axis=-1), _typed(trace["customdata"])
    raise AssertionError("no map drawn")


def test_the_page_draws_a_typed_function_and_explains_a_refused_one():
    at = _page()
    at.selectbox(key="surface").set_value("custom").run()
    box = at.text_input(key="surface.custom.f")
    box.set_value("x**2 + 3*y**2 + sin(4*x)").run()
    assert not at.exception, [e.message for e in at.exception]
    cfg = at.session_state["config"]
    assert cfg.surface == "custom" and dict(cfg.surface_params)["f"] == "x**2 + 3*y**2 + sin(4*x)"
    assert any(r"\sin{\left(4 x \right)}" in m.value for m in at.markdown)  # the header's formula
    xy, drawn = _drawn(at)
    x, y = xy[:, 0], xy[:, 1]
    np.testing.assert_allclose(drawn, x**2 + 3 * y**2 + np.sin(4 * x), rtol=1e-12, atol=1e-12)
    assert not at.error

    box.set_value("open('/etc/passwd').read()").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("calls 'open'" in e.value or "attribute access" in e.value for e in at.error)
    assert dict(at.session_state["config"].surface_params)["f"] == DEFAULT_FORMULA  # the default is drawn
    _drawn(at)

    ok = _page({"surface": "custom", "custom.f": "abs(x) + y**2", "custom.xmax": "5"})
    assert not ok.exception and not ok.warning
    assert dict(ok.session_state["config"].surface_params) == {"f": "abs(x) + y**2", "xmin": -3.0, "xmax": 5.0,
                                                               "ymin": -3.0, "ymax": 3.0}
    refused = _page({"surface": "custom", "custom.f": "9**9**9**9"})
    assert not refused.exception
    assert any("a power in an exponent" in w.value for w in refused.warning)
