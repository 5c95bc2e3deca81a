"""The edge-of-stability section of the MNIST page, headless (AppTest) on the embedded set.

The run is a background thread; the tests wait for the job kept in session state, then rerun the
page as its polling fragment would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ui import eos_section, mnist_jobs

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "ui" / "mnist_page.py")
TIMEOUT = 60
W = eos_section.WIDGET


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    """No full MNIST, nothing cached; the preset shortened to 60 steps on 250 images."""
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(eos_section, "PRESET", {**eos_section.PRESET, "steps": 60, "n_train": 250})
    st.cache_resource.clear()
    eos_section.forget_runs()
    mnist_jobs.forget_runs()
    yield
    st.cache_resource.clear()
    eos_section.forget_runs()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def finished(at: AppTest) -> AppTest:
    job = at.session_state[eos_section.JOB]
    deadline = time.monotonic() + TIMEOUT
    while job.running:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.05)
    return ok(at.run())


def traces(at: AppTest, role: str) -> list[dict]:
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [t for f in figures for t in f["data"] if t.get("meta", {}).get("role") == role]


def plateau_table(at: AppTest):
    (table,) = [d.value for d in at.dataframe if "plateau median" in d.value.columns]
    return table


def test_section_renders_with_the_paper_and_its_controls():
    at = ok(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run())
    assert not at.error
    (section,) = [e for e in at.expander if "Edge of stability" in e.label]
    assert any("Cohen, Kaur, Li, Kolter & Talwalkar" in m.value and "2 / lr" in m.value for m in section.markdown)
    assert at.text_input(key=W + "lrs").value == "0.08, 0.1, 0.15"
    assert any("Steps capped at" in c.value and "float32" in c.value for c in section.caption)
    assert not at.button(key="eos.run").disabled and at.button(key="eos.cancel").disabled
    assert not traces(at, "sharpness")


def test_preset_runs_and_shows_sharpness_against_two_over_lr():
    at = ok(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run())
    at.text_input(key=W + "lrs").set_value("0.3").run()
    at.button(key="eos.preset").click().run()
    ok(at)
    job = at.session_state[eos_section.JOB]
    assert job.config.lrs == (0.08, 0.1, 0.15) and job.config.steps == 60 and job.config.n_train == 250
    assert job.config.source == "embedded"
    at = finished(at)
    assert not at.error
    result = job.latest
    assert result.done and result.sharpness.shape == (3, len(job.config.measure_steps))
    thresholds = traces(at, "threshold")
    assert [t["y"] for t in thresholds] == [[2 / lr, 2 / lr] for lr in (0.08, 0.1, 0.15)]
    assert len(traces(at, "sharpness")) == 3 and len(traces(at, "eos-loss")) == 3
    table = plateau_table(at)
    assert list(table["lr"]) == [0.08, 0.1, 0.15] and list(table["2 / lr"]) == [25.0, 20.0, 2 / 0.15]
    assert (table["sharpness at step 0"] > 10).all() and list(table["status"]) == ["ok"] * 3
    assert any("Plateau: the sharpness measured from step 30" in c.value for c in at.caption)

    at.button(key="eos.preset").click().run()  # the same setting again: the kept run, at once
    again = ok(at).session_state[eos_section.JOB]
    assert again is not job and again.cached and again.latest is result
    assert any("from the cache" in p.proto.text for p in at.get("progress"))


def test_cancel_keeps_what_was_computed():
    at = ok(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run())
    at.number_input(key=W + "steps").set_value(1000).run()
    at.button(key="eos.run").click().run()
    job = ok(at).session_state[eos_section.JOB]
    assert job.running and at.button(key="eos.run").disabled and at.button(key="eos.preset").disabled
    deadline = time.monotonic() + TIMEOUT
    while job.latest is None or job.latest.steps_done < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    at.button(key="eos.cancel").click().run()
    at = finished(at)
    assert job.latest.stopped and 0 < job.latest.steps_done < 1000
    assert any("Cancelled after" in p.proto.text for p in at.get("progress"))
    assert len(plateau_table(at)) == 3


@pytest.mark.parametrize("field, value, words", [
    ("lrs", "0.1, fast", ["'fast' is not a number"]),
    ("lrs", "  ", ["none given"]),
    ("lrs", "0.1, 5", ["lr", "(0, 2]"]),
    ("lrs", "0.1 0.2 0.3 0.4 0.5 0.6 0.7", ["1 to 6"]),
    ("steps", 20_000, ["20,000", "more than the", "steps a run"]),
])
def test_bad_input_shows_a_message_and_disables_run(field, value, words):
    at = ok(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run())
    widget = at.text_input(key=W + field) if field == "lrs" else at.number_input(key=W + field)
    widget.set_value(value).run()
    ok(at)
    assert any(all(w in e.value for w in words) for e in at.error), [e.value for e in at.error]
    assert at.button(key="eos.run").disabled
