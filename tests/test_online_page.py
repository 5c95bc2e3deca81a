"""The online page (ui/online_page.py) under AppTest, and its figures (plots/online.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from online import get_problem, paper_optimizers, run_online
from optimizers import get_optimizer
from plots.online import MAX_POINTS, average_regret_figure, eff_lr_figure, iterate_figure, thinned

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "ui" / "online_page.py")
TIMEOUT = 120
W = "online.w."
PAPER = ("inverse_sqrt", {"alpha": 1.0})


def page(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for name, value in state.items():
        at.session_state[W + name] = value
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def table(at: AppTest):
    (found,) = [d.value for d in at.dataframe if "final x" in d.value.columns]
    return found


def story(at: AppTest) -> str:
    (text,) = [i.value for i in at.info if "R_T/T" in i.value]
    return text


def array(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.array(value, dtype=float)


# --- the page -----------------------------------------------------------------------------------------


def test_opening_view_tells_the_papers_story():
    """C = 3, alpha = 0.1, 20,000 steps: Adam, AMSGrad and SGD; the numbers on screen are the run's."""
    at = page()
    problem = get_problem(C=3.0)
    res = run_online(problem, [*paper_optimizers(problem, 0.1), get_optimizer("sgd", lr=0.1, schedule=PAPER)],
                     20_000)
    rows = table(at)
    assert len(rows) == 3 and rows["optimizer"][0].startswith("1. Adam") and "AMSGrad" in rows["optimizer"][1]
    assert list(rows["final x"]) == [f"{x:+.4f}" for x in res.path[:, -1]]
    assert list(rows["R_T / T"]) == [f"{r:.4f}" for r in res.average_regret[:, -1]]
    assert float(rows["final x"][0]) > 0.9 and float(rows["final x"][1]) < -0.9
    text = story(at)
    assert f"x = {res.path[0, -1]:+.4f}" in text and f"x = {res.path[1, -1]:+.4f}" in text
    assert "20,000" in text and "Reddi" in at.markdown[0].value and "You changed" not in text
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 3
    iterate = charts[0]
    idx = thinned(20_001, 3)
    np.testing.assert_array_equal(array(iterate["data"][0]["y"]), res.path[0, idx])


def test_preset_runs_and_changes_the_optimizers():
    at = page()
    at.selectbox(key=W + "preset").select("betas").run()
    ok(at)
    rows = table(at)
    assert len(rows) == 4 and "betas" not in rows["optimizer"][2]  # torch's default betas
    assert "β₂ = 0.999" in story(at) and "You changed" not in story(at)
    at.number_input(key=W + "C").set_value(1.5).run()
    assert "You changed the settings" in story(ok(at))
    at.selectbox(key=W + "preset").select("reddi").run()
    assert len(table(ok(at))) == 3


@pytest.mark.parametrize("name,value,words", [
    ("C", 0.0, ("C=0", "[0.001, 1000]")),
    ("C", 5000.0, ("C=5000", "[0.001, 1000]")),
    ("steps", 10**6, ("steps=1000000", "[1, 50000]")),
    ("steps", 0, ("steps=0", "[1, 50000]")),
    ("alpha", -1.0, ("alpha=-1", "(0, 1000]")),
])
def test_bad_input_shows_a_message_and_the_defaults_run(name, value, words):
    at = page(steps=300)
    at.number_input(key=W + name).set_value(value).run()
    ok(at)
    errors = [e.value for e in at.error]
    assert any(all(w in e for w in words) for e in errors), errors
    assert len(table(at)) == 3


def test_small_C_shows_the_note():
    at = page(C=1.5, steps=300)
    (note,) = [w.value for w in at.warning if "C = 1.5" in w.value]
    assert "+1" in note and "C > 2" in note
    assert table(at)["distance to x*"][0] == f"{abs(float(table(at)['final x'][0]) - 1):.4f}"


def test_no_optimizer_says_so():
    at = page(steps=300, adam=False, amsgrad=False)
    at.button(key="online.opt0.remove").click().run()
    ok(at)
    assert any("No optimizer" in i.value for i in at.info)
    at.button[[b.label for b in at.button].index("Add optimizer")].click().run()
    assert len(table(ok(at))) == 1 and table(at)["optimizer"][0].startswith("1. SGD")


def test_the_app_lists_the_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    titles = [info.get("page_name") for info in at._registered_pages.values()]
    assert "Online: Adam vs AMSGrad" in titles
    at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("page_name") == titles[-1])
    at.session_state[W + "steps"] = 300
    ok(at.run())
    assert len(table(at)) == 3


# --- the figures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 10, MAX_POINTS, MAX_POINTS + 1, 20_001, 50_000])
def test_thinning_keeps_whole_cycles_and_the_end(n):
    idx = thinned(n, 3)
    assert idx[0] == 0 and idx[-1] == n - 1 and (np.diff(idx) > 0).all()
    assert len(idx) <= MAX_POINTS + 3
    cycles, counts = np.unique(idx // 3, return_counts=True)
    assert (counts[:-1] == 3).all()  # every picked cycle whole (the last one may be cut by the end)


def test_figures_validate_and_show_the_result():
    problem = get_problem(C=3.0)
    res = run_online(problem, paper_optimizers(problem, 0.1), 5000)
    for build in (iterate_figure, average_regret_figure, eff_lr_figure):
        fig = build(res)
        go.Figure(fig)  # plotly's own validation
        lines = [t for t in fig["data"] if t["meta"]["role"] != "lr"]
        assert [t["name"] for t in lines] == [f"{res.labels[k]} · final x = {res.path[k, -1]:+.4f}" for k in range(2)]
    idx = thinned(5000, 3)
    fig = average_regret_figure(res)
    np.testing.assert_array_equal(fig["data"][1]["y"], res.average_regret[1, idx])
    np.testing.assert_array_equal(fig["data"][1]["x"], idx + 1)
    assert sorted(s["y0"] for s in fig["layout"]["shapes"]) == [0.0, pytest.approx(2 / 3)]
    assert iterate_figure(res)["layout"]["shapes"][0]["y0"] == -1.0
    assert not iterate_figure(run_online(get_problem(C=2.0), paper_optimizers(get_problem(C=2.0), 0.1),
                                         30))["layout"]["shapes"]


def test_settings_survive_a_visit_to_another_page():
    """Streamlit drops the state of widgets not drawn; the page keeps its own copy."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    pages = {info.get("page_name"): h for h, info in at._registered_pages.items()}
    at._page_hash = pages["Online: Adam vs AMSGrad"]
    at.session_state[W + "steps"] = 300
    ok(at.run())
    at.number_input(key=W + "C").set_value(5.0).run()
    at._page_hash = pages["2-D surfaces"]
    ok(at.run())
    at._page_hash = pages["Online: Adam vs AMSGrad"]
    ok(at.run())
    assert at.number_input(key=W + "C").value == 5.0 and at.number_input(key=W + "steps").value == 300
    assert "C = 5" in at.latex[0].value
