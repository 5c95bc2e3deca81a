"""The theory panel on the 2-D page (AppTest) and its figures (validated by go.Figure).

Expected numbers are the published closed forms retyped here (Goh 2017; Lee et al. 2016), and
the engine's own arrays for what a run measured.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from optimizers import get_optimizer, run
from plots.theory import escape_figure, rate_distance_figure, rate_lr_figure
from surfaces import get_surface
from tests.test_app import APP, TIMEOUT, config, ok, page, widget
from theory.report import distance, escape_rows, expected_y, rate_curves, rate_rows
from ui import state
from ui.presets import PRESETS


def validated(fig: dict) -> dict:
    """The builder's dict, after go.Figure has accepted it (the page never validates)."""
    go.Figure(fig)
    return fig


def table(at: AppTest, column: str):
    (found,) = [d.value for d in at.dataframe if column in d.value.columns]
    return found


def preset(name: str) -> AppTest:
    at = ok(page())
    at.selectbox(key="preset").set_value(name).run()
    return ok(at)


def test_optimal_momentum_preset_shows_measured_beside_closed_form():
    at = preset("optimal_momentum")
    assert any("Goh" in m.value and "Why Momentum Really Works" in m.value for m in at.markdown)
    rates = table(at, "closed-form rate")
    kappa = 100.0
    gd, hb = (kappa - 1) / (kappa + 1), (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    assert list(rates["closed-form rate"]) == [f"{gd:.5g}", f"{hb:.5g}"]
    measured = [float(v) for v in rates["measured rate"]]
    assert rates["measured rate"][0] == f"{gd:.5g}"  # best GD: exactly geometric
    assert measured[1] == pytest.approx(hb, rel=0.02) and measured[1] > hb  # k r^k: a little above r
    (note,) = [c.value for c in at.caption if "double root" in c.value]
    assert note.startswith(rates["optimizer"][1])
    lo = math.sqrt(1 / kappa)
    beta, hb_lr = ((1 - lo) / (1 + lo)) ** 2, (2 / (lo + 1)) ** 2
    assert list(rates["stable for lr below"]) == [f"2 (lr = {2 / (1 / kappa + 1):.4g})",
                                                  f"{2 + 2 * beta:.4g} (lr = {hb_lr:.4g})"]
    sqrt_table = table(at, "√κ")
    row = sqrt_table[sqrt_table["κ"] == "100 (this surface)"].iloc[0]
    assert float(row["momentum is … × faster"]) == pytest.approx(math.log(hb) / math.log(gd), rel=1e-2)


def test_optimal_button_sets_the_published_values_for_the_current_condition():
    at = preset("optimal_momentum")
    widget(at.number_input, "surface.quadratic.condition").set_value(1000.0).run()
    ok(at)
    at.button(key="theory.optimal").click().run()
    ok(at)
    lo = math.sqrt(1e-3)
    gd, hb = config(at).optimizers
    assert (gd.name, hb.name) == ("sgd", "sgd")
    assert gd.lr == pytest.approx(2 / (1e-3 + 1), rel=1e-14) and dict(gd.hparams)["momentum"] == 0
    assert hb.lr == pytest.approx((2 / (lo + 1)) ** 2, rel=1e-14)
    assert dict(hb.hparams)["momentum"] == pytest.approx(((1 - lo) / (1 + lo)) ** 2, rel=1e-14)
    rates = table(at, "closed-form rate")
    assert list(rates["closed-form rate"]) == [f"{999 / 1001:.5g}", f"{(math.sqrt(1000) - 1) / (math.sqrt(1000) + 1):.5g}"]


def test_divergence_preset_measures_the_growth_rate():
    """GD at lr = 2.2 on eigenvalues 0.1 and 1: the error grows by max |1 - 2.2 lambda| = 1.2 per step."""
    at = preset("divergence")
    rates = table(at, "closed-form rate")
    assert rates["closed-form rate"][3] == "1.2" and rates["run"][3].startswith("diverged at step")
    assert float(rates["measured rate"][3]) == pytest.approx(1.2, rel=1e-3)
    assert list(rates["steps per ×10 (measured / theory)"])[3] == "never (grows) / never (grows)"
    assert all(v.startswith("2 (") for v in rates["stable for lr below"])


def test_other_optimizers_are_measured_without_a_closed_form():
    at = preset("conditioning")
    rates = table(at, "closed-form rate")
    assert all(v.startswith("— (") and "no closed form" in v for v in rates["closed-form rate"][2:])


def test_saddle_escape_preset_shows_the_formula_and_the_measured_step():
    at = preset("saddle_escape")
    assert any("Lee et al." in m.value and "Jin et al." in m.value for m in at.markdown)
    escape = table(at, "escape (theory)")
    for i, lr in enumerate((0.05, 0.1, 0.2)):
        formula = math.log(1000) / math.log(1 + 2 * lr)
        assert escape["escape (measured)"][i] == str(math.ceil(formula))
        assert escape["escape (theory)"][i] == f"⌈{formula:.4f}⌉ = {math.ceil(formula)}"


def test_noise_preset_escapes_from_the_ridge_and_the_button_removes_the_noise():
    at = preset("saddle_noise")
    assert config(at).start[1] == 0.0 and config(at).noise == 0.01
    escape = table(at, "escape (theory)")
    assert all(v.isdigit() for v in escape["escape (measured)"])
    assert all(v.startswith("half the draws by step") for v in escape["escape (theory)"])
    at.button(key="theory.noise").click().run()
    ok(at)
    assert config(at).noise == 0.0
    escape = table(at, "escape (theory)")
    assert list(escape["escape (measured)"]) == ["not within 120 steps"] * 2
    assert list(escape["escape (theory)"]) == ["never: y₀ = 0, it converges to the saddle"] * 2


def test_ridge_button_moves_the_start_onto_y_zero():
    at = preset("saddle")
    at.button(key="theory.ridge").click().run()
    ok(at)
    assert config(at).start == (-2.0, 0.0)


def test_no_panel_where_there_is_no_textbook_result():
    at = ok(page())
    assert not [d for d in at.dataframe if "closed-form rate" in d.value.columns or "escape (theory)" in d.value.columns]
    assert not any("Textbook result" in h.value for h in at.subheader)


@pytest.mark.parametrize("name", ["optimal_momentum", "saddle_escape", "saddle_noise"])
def test_new_presets_round_trip_through_a_link(name):
    cfg = PRESETS[name].config
    decoded, chosen, notes = state.decode({k: v if isinstance(v, list) else [v]
                                           for k, v in state.encode(cfg, name).items()}, PRESETS)
    assert (decoded, chosen, notes) == (cfg, name, [])
    at = ok(AppTest.from_file(APP, default_timeout=TIMEOUT))
    for key, value in state.encode(cfg, name).items():
        at.query_params[key] = value
    ok(at.run())
    assert config(at) == cfg


# --- the figures ------------------------------------------------------------------------------------------


def test_rate_figures_draw_the_closed_form_through_the_fit():
    res = run(get_surface("quadratic", condition=10.0, angle=30.0),
              [get_optimizer("sgd", lr=1.0), get_optimizer("sgd", lr=0.5, momentum=0.5), get_optimizer("adam", lr=0.1)],
              [[-2.5, 2.0]], 200)
    rows = rate_rows(res)
    fig = validated(rate_distance_figure(res, distance(res), rows))
    theory = [t for t in fig["data"] if t["meta"]["role"] == "theory"]
    assert [t["meta"]["config"] for t in theory] == [0, 1]  # Adam has no closed form
    line, row = theory[0], rows[0]
    assert line["y"][row.fit.last] == pytest.approx(distance(res)[0, row.fit.last])
    assert line["y"][row.fit.last - 10] / line["y"][row.fit.last] == pytest.approx(0.9 ** -10)  # rate 1 - 1/10
    fig = validated(rate_lr_figure(rows, rate_curves(rows, 10.0)))
    curves = [t for t in fig["data"] if t["meta"]["role"] == "curve"]
    assert [t["meta"]["momentum"] for t in curves] == [0.0, 0.5]
    thresholds = sorted(s["x0"] for s in fig["layout"]["shapes"] if s["x0"] == s["x1"] and s["xref"] == "x")
    assert thresholds == [2.0, 3.0]
    lr, rate = np.asarray(curves[0]["x"]), np.asarray(curves[0]["y"])
    np.testing.assert_allclose(rate, np.maximum(abs(1 - lr * 0.1), abs(1 - lr)))


def test_escape_figure_theory_lies_on_the_measured_path():
    res = run(get_surface("saddle"), [get_optimizer("sgd", lr=0.1), get_optimizer("adam", lr=0.1)], [[-2.0, 1e-3]], 60)
    rows = escape_rows(res)
    expected = {r.k: expected_y(r, 0.0, 60) for r in rows if expected_y(r, 0.0, 60) is not None}
    fig = validated(escape_figure(res, rows, expected))
    measured = [t for t in fig["data"] if t["meta"]["role"] == "measured"]
    (theory,) = [t for t in fig["data"] if t["meta"]["role"] == "theory"]
    np.testing.assert_allclose(theory["y"], measured[0]["y"], rtol=1e-12)
    assert [s["x0"] for s in fig["layout"]["shapes"] if s["xref"] == "x"] == [38]
