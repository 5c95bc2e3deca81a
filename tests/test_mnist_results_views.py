"""The MNIST page's results, driven headlessly (AppTest): the accuracy axis zooms to 90-100 % once
every optimizer is above 90 % and its toggle shows 0-100 %; the landscape is drawn in Chinese too.
References: the TrainResult's own accuracies; the rule stated in the toggle's help."""

from __future__ import annotations

import numpy as np

from tests.test_mnist_page import figures, finished, fresh, ok, page  # noqa: F401 (fresh: autouse fixture)


def _figure(at, role: str) -> dict:
    (fig,) = [f for f in figures(at) if any(t.get("meta", {}).get("role") == role for t in f["data"])]
    return fig


def test_accuracy_axis_zooms_above_90_and_the_toggle_shows_the_full_range():
    at = page(steps=300, hidden=64)
    at.button(key="mnist.train").click().run()
    at = finished(at, timeout=300)
    res = at.session_state["mnist.job"].finished.result
    latest = [100 * acc[np.isfinite(acc)][-1] for acc in res.val_acc]
    assert min(latest) >= 90, latest  # the premise: 300 steps of the five defaults all pass 90 %
    axis = _figure(at, "accuracy")["layout"]["yaxis"]
    assert axis["range"][0] == 90 and axis["range"][1] >= 100 and "90–100 % shown" in axis["title"]["text"]
    at.toggle(key="mnist.acc_full.final").set_value(True).run()
    axis = _figure(ok(at), "accuracy")["layout"]["yaxis"]
    assert axis["range"][0] == 0 and axis["range"][1] >= 100 and "shown" not in axis["title"]["text"]
    at.toggle(key="mnist.acc_full.final").set_value(False).run()
    assert _figure(ok(at), "accuracy")["layout"]["yaxis"]["range"][0] == 90


def test_the_landscape_is_drawn_in_chinese():
    at = page(lang="zh")
    at.button(key="mnist.train").click().run()
    at = finished(at)
    land = _figure(at, "landscape")
    assert len([t for t in land["data"] if t["meta"]["role"] == "path"]) == 5
