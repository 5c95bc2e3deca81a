"""The MNIST page, driven headlessly with streamlit.testing.v1.AppTest on the embedded set.

Training runs in the page's background thread; the tests wait for the job it keeps in session
state, then rerun the script as the page's polling fragment would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ui import mnist_jobs

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "ui" / "mnist_page.py")
TIMEOUT = 60
W = "mnist.w."


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    """No full MNIST anywhere (MNIST_DIR and the cache dir are empty); no runs or data cached."""
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    st.cache_resource.clear()
    mnist_jobs.forget_runs()
    yield
    st.cache_resource.clear()
    mnist_jobs.forget_runs()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def page(steps: int = 40, hidden: int = 16, **state) -> AppTest:
    """The page with a short run preset (steps mode), before any Train press."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state[W + "length"] = "steps"
    at.session_state[W + "steps"] = steps
    at.session_state[W + "hidden"] = hidden
    for name, value in state.items():
        at.session_state[name] = value
    return ok(at.run())


def finished(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Wait for the training thread, then rerun the page (what the fragment's poll triggers)."""
    job = at.session_state["mnist.job"]
    deadline = time.monotonic() + timeout
    while job.running:
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.05)
    return ok(at.run())


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def roles(at: AppTest) -> set[str]:
    return {t.get("meta", {}).get("role") for f in figures(at) for t in f["data"]}


def results_table(at: AppTest):
    (table,) = [d.value for d in at.dataframe if "val. accuracy (%)" in d.value.columns]
    return table


def test_opening_view_has_five_optimizers_and_no_run():
    at = ok(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run())
    assert not at.error
    assert len(at.session_state["mnist.panels"]) == 5
    assert not at.button(key="mnist.train").disabled and at.button(key="mnist.stop").disabled
    assert any("press **Train**" in i.value for i in at.info)
    assert "embedded" in at.caption[0].value or any("embedded MNIST" in c.value for c in at.caption)


def test_two_d_only_optimizers_are_not_offered_and_a_note_says_why():
    from optimizers import OPTIMIZERS

    at = ok(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run())
    two_d = [name for name, info in OPTIMIZERS.items() if info.two_d_only]
    assert "newton" in two_d and "adafactor" not in two_d and "muon" not in two_d  # matrices: per layer
    for box in at.selectbox:
        if box.label == "optimizer":
            assert set(box.options) == {OPTIMIZERS[n].title for n in OPTIMIZERS if n not in two_d}
    assert any("On the 2-D page only" in c.value and "Newton" in c.value for c in at.caption)


def test_trains_briefly_and_shows_results():
    at = page()
    at.button(key="mnist.train").click().run()
    ok(at)
    job = at.session_state["mnist.job"]
    assert job.config.steps == 40 and job.config.hidden == 16 and len(job.config.optimizers) == 5
    assert job.config.source == "embedded"
    at = finished(at)
    assert not at.error
    table = results_table(at)
    assert len(table) == 5 and list(table["status"]) == ["done"] * 5
    res = job.finished.result
    np.testing.assert_allclose(table["val. accuracy (%)"], 100 * res.final_val_acc)
    assert table["val. accuracy (%)"].max() > 60  # 40 steps of 64 images already learn something
    assert {"smooth", "raw", "accuracy", "band", "median", "line", "landscape", "path", "start", "digits"} <= roles(at)
    (land,) = [f for f in figures(at) if any(t.get("meta", {}).get("role") == "landscape" for t in f["data"])]
    assert len([t for t in land["data"] if t.get("meta", {}).get("role") == "path"]) == 5
    assert "of the variance" in land["layout"]["xaxis"]["title"]["text"]
    assert any("explains" in c.value for c in at.caption)


def test_same_configuration_again_is_instant():
    at = page()
    at.button(key="mnist.train").click().run()
    at = finished(at)
    first = at.session_state["mnist.job"]
    st.cache_resource.clear()  # what a client's "Clear caches" does: the server's store keeps its runs
    st.cache_data.clear()
    started = time.perf_counter()
    at.button(key="mnist.train").click().run()
    ok(at)
    again = at.session_state["mnist.job"]
    assert again is not first and again.cached and not again.running
    assert again.finished is first.finished  # the stored run, not a new one
    assert time.perf_counter() - started < 10
    assert len(results_table(at)) == 5 and any("from the cache" in p.proto.text for p in at.get("progress"))


def test_live_view_then_stop_keeps_partial_results():
    at = page(steps=20_000, hidden=64)
    at.button(key="mnist.train").click().run()
    ok(at)
    job = at.session_state["mnist.job"]
    assert job.running
    # the first partial result is drawn in the run that started training: progress and live charts
    assert any("steps/s" in p.proto.text for p in at.get("progress"))
    assert {"smooth", "accuracy", "median"} <= roles(at)
    assert not at.button(key="mnist.stop").disabled and at.button(key="mnist.train").disabled
    at.button(key="mnist.stop").click().run()
    at = finished(at)
    res = job.finished.result
    assert res.stopped and 0 < res.steps_done < 20_000
    assert any("Stopped after" in i.value for i in at.info)
    table = results_table(at)
    assert list(table["status"]) == ["stopped"] * 5 and np.all(np.isfinite(table["val. accuracy (%)"]))
    assert "landscape" in roles(at)


def test_diverging_optimizer_is_marked_and_the_others_finish():
    at = page(steps=30)
    at.number_input(key=W + "opt.0.sgd.lr").set_value(1000.0).run()
    at.button(key="mnist.train").click().run()
    at = finished(at)
    table = results_table(at)
    assert table["status"][0].startswith("diverged at step")
    assert list(table["status"][1:]) == ["done"] * 4 and np.isnan(table["val. accuracy (%)"][0])
    assert np.all(table["val. accuracy (%)"][1:] > 30)


def test_bad_input_shows_an_error_and_leaves_the_optimizer_out():
    at = page()
    at.number_input(key=W + "opt.1.sgd.lr").set_value(5000.0).run()
    ok(at)
    assert any("outside the allowed range" in e.value and "lr" in e.value for e in at.error)
    assert any("Optimizer 2" in e.value and "left out" in e.value for e in at.error)
    at.button(key="mnist.train").click().run()
    at = finished(at)
    assert len(results_table(at)) == 4


def planned(at: AppTest) -> list[str]:
    """The optimizers of the run Train would start, by the labels of the planned-lr chart."""
    return [t["name"] for f in figures(at) for t in f["data"] if t.get("meta", {}).get("role") == "schedule"]


def test_duplicate_adds_a_copy_right_after_its_panel():
    at = page()
    at.number_input(key=W + "opt.1.sgd.lr").set_value(0.02).run()
    at.button(key="mnist.opt1.dup").click().run()
    ok(at)
    names = planned(at)
    assert len(names) == 6 and names[1][3:] == names[2][3:] and "lr=0.02" in names[2]  # "2. ", "3. "
    assert names[3].startswith("4. AdaGrad")


def test_no_optimizer_disables_train():
    at = page()
    for _ in range(5):
        remove = [b for b in at.button if b.key and b.key.startswith("mnist.opt") and b.key.endswith(".remove")]
        remove[0].click().run()
    ok(at)
    assert at.button(key="mnist.train").disabled
    assert any("No optimizer" in i.value for i in at.info)


def test_full_set_missing_falls_back_with_a_download_button():
    at = page(**{W + "source": "full"})
    assert any("not found" in w.value and "embedded" in w.value for w in at.warning)
    assert any(b.label.startswith("Download full MNIST") for b in at.button)
    at.button(key="mnist.train").click().run()
    at = finished(at)
    assert at.session_state["mnist.job"].config.source == "embedded"
    assert len(results_table(at)) == 5


def test_full_set_used_when_present(monkeypatch):
    shared = ROOT.parent / "shared" / "data" / "mnist"
    monkeypatch.setenv("MNIST_DIR", str(shared))
    at = page(steps=5, **{W + "source": "full"})
    assert not at.warning
    assert any("full MNIST: 60,000 train" in c.value for c in at.caption)
    assert any("469 steps per epoch of 60,000" in c.value or "per epoch of 60,000 images" in c.value
               for c in at.caption)


def test_at_most_two_trainings_run_at_once_and_abandoned_ones_stop(monkeypatch):
    """A classroom pressing Train together: two jobs train, the third waits with a note (also after
    a cache clear); a job whose page stops polling is stopped (its tab was closed)."""
    sessions = [page(steps=100_000, hidden=16) for _ in range(3)]
    for at in sessions[:2]:
        ok(at.button(key="mnist.train").click().run())
    deadline = time.monotonic() + TIMEOUT
    while sum(at.session_state["mnist.job"].phase == "training" for at in sessions[:2]) < 2:
        assert time.monotonic() < deadline, [at.session_state["mnist.job"].phase for at in sessions[:2]]
        time.sleep(0.05)
    st.cache_resource.clear()  # a client's "Clear caches" hands out no new training slots
    st.cache_data.clear()
    waiting = sessions[2]
    ok(waiting.button(key="mnist.train").click().run())
    jobs = [at.session_state["mnist.job"] for at in sessions]
    assert [j.phase for j in jobs] == ["training", "training", "queued"]
    assert any("Waiting for a free training slot" in p.proto.text for p in ok(waiting.run()).get("progress"))

    for job in jobs:
        job.seen -= 10_000  # nobody has polled them for hours
    deadline = time.monotonic() + TIMEOUT
    while any(j.running for j in jobs):
        assert time.monotonic() < deadline, [j.phase for j in jobs]
        time.sleep(0.05)
    assert all(j.latest is None or j.latest.steps_done < 100_000 for j in jobs)
