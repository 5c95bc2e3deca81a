"""Presentation mode's figures (plots.palette.presentation): every text at least 16 px, thicker
lines, bigger markers, the figure's arrays shared, not copied; legends never over the plot."""

import numpy as np
import pytest

from optimizers import get_optimizer, run
from plots import contour_figure, distance_figure, eff_lr_figure, grad_norm_figure, loss_figure
from plots.palette import LEGEND_ABOVE, PRESENT_LINE, PRESENT_MIN_FONT, presentation
from surfaces import get_surface


@pytest.fixture(scope="module")
def res():
    return run(get_surface("rosenbrock"), [get_optimizer("sgd", lr=1e-3), get_optimizer("adam", lr=0.05)],
               np.array([[-1.5, 2.0]]), 60, compiled=False)


def texts(fig: dict) -> list[tuple[str, float]]:
    layout = fig["layout"]
    out = [("font", layout["font"]["size"]), ("legend", layout["legend"]["font"]["size"])]
    for name, axis in layout.items():
        if name[1:5] == "axis":
            out.append((name, axis["tickfont"]["size"]))
            if "title" in axis:  # else no title is drawn
                out.append((name + " title", axis["title"]["font"]["size"]))
    out += [("annotation", a["font"]["size"]) for a in layout.get("annotations", [])]
    for trace in fig["data"]:
        bar = (trace.get("marker") or {}).get("colorbar")
        if bar:
            out += [("colorbar", bar["tickfont"]["size"]), ("colorbar title", bar["title"]["font"]["size"])]
    return out


@pytest.mark.parametrize("build", [lambda r: contour_figure(r, step=30, arrows=True), loss_figure, distance_figure,
                                   grad_norm_figure, eff_lr_figure])
def test_every_text_is_large_and_lines_thicker(res, build):
    fig = build(res)
    shown = presentation(fig)
    small = [(what, size) for what, size in texts(shown) if size < PRESENT_MIN_FONT]
    assert not small
    for before, after in zip(fig["data"], shown["data"]):
        if (before.get("line") or {}).get("width"):
            assert after["line"]["width"] == pytest.approx(before["line"]["width"] * PRESENT_LINE)
        assert after.get("x") is before.get("x")  # arrays shared
    assert fig["layout"]["font"]["size"] < PRESENT_MIN_FONT  # the original is left as it was


def test_legends_sit_in_the_margin_above_the_plot(res):
    for fig in (contour_figure(res), loss_figure(res)):
        legend = fig["layout"]["legend"]
        assert legend["yref"] == "container" and legend["y"] == 1 and legend["yanchor"] == "top"
        assert legend["maxheight"] == LEGEND_ABOVE["maxheight"]
