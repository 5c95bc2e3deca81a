"""What one client can do to the server and to its own session, bounded (issue #13).

- A client's clear_cache message (Streamlit accepts it from any client) empties both caches and
  the session's state: the server-wide training slots and run store are untouched, and the
  session's next rerun restores its page instead of raising in a widget callback.
- A choice widget sent a value that is none of its options: refused with a note.
- Exports: a CSV weighs at most export.CSV_MAX_BYTES, says so on its button, keeps every k-th step
  past it (with a final-states export), and is written in chunks that leave the GIL to others.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.app_test import TESTING_KEY

from optimizers import run
from tests.test_app import drawn_views
from tests.test_load import run_async
from ui import export, mnist_jobs, state
from ui.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
MNIST_PAGE = str(ROOT / "ui" / "mnist_page.py")
TIMEOUT = 60


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def page(query: dict | None = None, script: str = APP) -> AppTest:
    at = AppTest.from_file(script, default_timeout=TIMEOUT)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def clear_caches_then_rerun(at: AppTest) -> AppTest:
    """What a client's clear_cache message does (AppSession._handle_clear_cache_request: both
    caches and the session's state emptied), then the browser's next rerun request, which carries
    the value of every widget it shows. The widget states are taken before the clear because
    AppTest reads them from session state; the browser keeps its own."""
    states = at._tree.get_widget_states()
    inner = at._session_state._state
    testing = inner[TESTING_KEY]
    st.cache_data.clear()
    st.cache_resource.clear()
    inner.clear()
    inner[TESTING_KEY] = testing
    return at._run(states)


# --- a client's clear_cache ----------------------------------------------------------------------------


@pytest.fixture
def no_full_mnist(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_clear_cache_keeps_the_server_wide_slots_and_runs():
    slots, marker = mnist_jobs.SLOTS, object()
    mnist_jobs.store("clear-cache-test", marker)
    try:
        st.cache_data.clear()
        st.cache_resource.clear()
        assert mnist_jobs.SLOTS is slots
        assert mnist_jobs.stored("clear-cache-test") is marker
    finally:
        mnist_jobs.forget_runs()


def test_clear_cache_then_rerun_restores_the_2d_page():
    at = page({"surface": "quadratic", "opt": "adam~lr:0.02", "steps": "120"})
    ok(at)
    before = at.session_state["config"]
    ok(clear_caches_then_rerun(at))  # today: KeyError 'surface' in the surface picker's callback
    assert at.session_state["config"] == before  # restored from the link
    assert drawn_views(at)
    ok(at.run())


def test_clear_cache_then_rerun_keeps_the_mnist_page_working(no_full_mnist):
    at = ok(page(script=MNIST_PAGE))
    ok(clear_caches_then_rerun(at))  # today: KeyError 'mnist.w.clip_norm#log' in _slider_to_number
    assert not at.button(key="mnist.train").disabled
    ok(at.run())


def test_clear_cache_message_over_the_websocket_then_rerun_has_no_exception():
    """The real BackMsg through a served app: a session opens a link, sends clear_cache, changes the
    number of steps; the run shows the page without an exception, and a second session is unaffected."""
    from tests.app_server import streamlit_server
    from tests.load_client import Session

    async def scenario(url: str) -> tuple[list[str], list[str], int]:
        async with Session(url, "surface=rosenbrock&opt=adam~lr:0.02&steps=100") as one, \
                Session(url, "surface=quadratic&steps=80") as two:
            await one.rerun()
            await two.rerun()
            await one.clear_cache()
            steps = next(w for w, (kind, el, _) in one.widgets.items() if kind == "number_input" and el.label == "steps")
            after = await one.rerun({steps: 150})
            other = await two.rerun()
            return after.errors(), other.errors(), len(after.figures())

    with streamlit_server({"OPTVIS_COMPILE": "0"}, name="session-bounds") as server:
        errors, other_errors, n_figures = run_async(scenario(server.url))
        log = server.log_text()
    assert not errors and not other_errors, (errors, other_errors)
    assert n_figures > 0
    assert "Traceback" not in log, log[-3000:]


# --- crafted widget values ---------------------------------------------------------------------------


def crafted(at: AppTest, key: str, value: str | list[str]) -> AppTest:
    """Rerun as a client that sends `value` for the choice widget `key` (a list for a segmented
    control), every other widget as shown. Streamlit passes a selectbox or radio value that is none
    of the options through unchanged, and an empty segmented control's as None."""
    states = at._tree.get_widget_states()
    (state,) = [w for w in states.widgets if w.id.endswith(f"-{key}")]
    if isinstance(value, list):
        state.string_array_value.data[:] = value
    else:
        state.string_value = value
    return at._run(states)


def errors_shown(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


@pytest.mark.parametrize(("key", "what"), [("opt0.name", "Optimizer 1"), ("opt0.schedule", "lr schedule"),
                                           ("surface", "Surface"), ("preset", "Teacher presets")])
def test_a_crafted_choice_on_the_2d_page_is_refused_with_a_note(key, what):
    at = ok(page({"surface": "quadratic", "opt": "adam~lr:0.02", "steps": "60"}))
    if key == "preset":
        at.selectbox(key="preset").set_value("saddle")
        ok(at.run())
    before = at.session_state["config"]
    ok(crafted(at, key, "nope"))  # today: KeyError 'nope' (optimizer), ValueError (surface)
    assert what in errors_shown(at) and "'nope'" in errors_shown(at), errors_shown(at)
    assert drawn_views(at)
    if key in ("opt0.schedule", "preset"):  # the run itself is unchanged
        assert at.session_state["config"] == before
    ok(at.run())


@pytest.mark.parametrize(("key", "value", "what"), [
    ("mnist.w.source", "nope", "Data"), ("mnist.w.length", [], "Train for"), ("mnist.w.backend", "nope", "backend"),
    ("mnist.w.opt.0.name", "nope", "Optimizer 1"),
])
def test_a_crafted_choice_on_the_mnist_page_is_refused_with_a_note(no_full_mnist, key, value, what):
    at = ok(page(script=MNIST_PAGE))
    ok(crafted(at, key, value))
    assert what in errors_shown(at) and ("'nope'" if value else "None") in errors_shown(at), errors_shown(at)
    assert not at.button(key="mnist.train").disabled
    ok(at.run())


# --- exports -------------------------------------------------------------------------------------------

WORST_LINK = {"swarm": "1000", "steps": "20000", "opt": [f"adam~lr:{0.01 * (i + 1):g}" for i in range(12)]}


def result_of(config: state.RunConfig):
    """The Result the page draws for `config` (its steps capped as the page caps them)."""
    return run(config.get_surface(), config.optimizers, config.starts(), state.capped_steps(config),
               **config.run_kwargs())


def todays_csv(res) -> bytes:
    """The trajectories CSV as the page wrote it before exports were capped: every step, one frame
    per trajectory, concatenated."""
    k_count, n, t, _ = res.shape
    stop = res.stop_index()
    frames = []
    for k in range(k_count):
        for j in range(n):
            s = np.arange(int(stop[k, j]) + 1)
            nxt, has_next = np.where(s < t, s, 0), s < t
            frames.append(pd.DataFrame({
                "optimizer": res.labels[k], "config": k, "start": j, "step": s,
                "x": res.path[k, j, s, 0], "y": res.path[k, j, s, 1], "loss": res.loss[k, j, s],
                "grad_x": res.grad[k, j, s, 0], "grad_y": res.grad[k, j, s, 1], "grad_norm": res.grad_norm[k, j, s],
                "lr": np.where(has_next, res.lr[k, nxt], np.nan),
                "eff_lr_x": np.where(has_next, res.eff_lr[k, j, nxt, 0], np.nan),
                "eff_lr_y": np.where(has_next, res.eff_lr[k, j, nxt, 1], np.nan),
                "status": export._fate(res, k, j)}))
    return pd.concat(frames, ignore_index=True).to_csv(index=False, float_format="%.17g").encode()


def csv_buttons(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button") if "CSV" in b.proto.label]


def longest_pause(fn) -> float:
    """The longest a thread that wakes every millisecond waited while fn() ran (seconds): how long
    fn held the GIL at a stretch, plus the machine's scheduling noise."""
    gaps, done = [0.0], threading.Event()

    def tick():
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        fn()
    finally:
        done.set()
        ticker.join()
    return max(gaps)


@pytest.mark.parametrize("preset", [None, "divergence"])
def test_an_export_within_the_cap_is_todays_full_csv(preset):
    config = state.make_config() if preset is None else replace(PRESETS[preset].config, steps=300)
    res = result_of(config)
    plan = export.plan_csv(res)
    assert plan.stride == 1 and plan.rows == int((res.stop_index() + 1).sum())
    data = export.trajectories_csv(res, plan.stride)
    assert data == todays_csv(res)
    assert len(data) <= plan.max_bytes <= export.CSV_MAX_BYTES


def test_the_csv_button_states_the_cap():
    at = ok(page())
    assert csv_buttons(at) == ["Trajectories (CSV, ≤ 20 MB)"]


def test_the_worst_link_exports_within_the_cap_every_kth_step_and_final_states():
    """12 optimizers x 1000 starts x 20000 steps asked for (the page runs 83): today a 185 MB CSV
    built in 30 s holding the GIL for 0.4 s at a stretch. Its time and its longest GIL hold are
    benchmark figures: python -m bench.export_csv."""
    at = ok(page(WORST_LINK))
    res = result_of(at.session_state["config"])
    plan = export.plan_csv(res)
    assert plan.stride > 1 and plan.full_bytes > export.CSV_MAX_BYTES
    (trajectories, final) = csv_buttons(at)
    assert f"every {plan.stride}" in trajectories and "20 MB" in trajectories and final == "Final states (CSV)"
    assert any("every" in c.value and "20 MB" in c.value for c in at.caption)

    data = export.trajectories_csv(res, plan.stride)
    assert len(data) <= plan.max_bytes <= export.CSV_MAX_BYTES
    frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])
    assert len(frame) == plan.rows
    stop = res.stop_index()
    last = frame.groupby(["config", "start"]).step.max().to_numpy()
    np.testing.assert_array_equal(last, stop.ravel())  # each trajectory's stop step is kept
    assert set(frame.step) <= {*range(0, res.shape[2] + 1, plan.stride), *stop.ravel().tolist()}
    np.testing.assert_array_equal(frame[["x", "y"]].to_numpy(), res.path[frame.config, frame.start, frame.step])

    final_rows = pd.read_csv(io.BytesIO(export.trajectories_csv(res, final=True)))
    assert len(final_rows) == stop.size
    np.testing.assert_array_equal(final_rows.step.to_numpy(), stop.ravel())


# --- huge links ----------------------------------------------------------------------------------------


def link_warning(at: AppTest) -> str:
    (note,) = [w.value for w in at.warning if "could not be used" in w.value]
    return note


def test_a_link_with_125000_problems_gets_twenty_notes_and_a_count():
    """One opt= value of 375 KB naming 125,000 unknown hyperparameters (within what Streamlit reads):
    today one warning of several MB with 125,000 bullets."""
    at = ok(page({"opt": "adam~" + "~".join(f"q{i % 10}" for i in range(125_000)), "rosenbrock.b": "x" * 20_000}))
    note = link_warning(at)
    bullets = [line for line in note.splitlines() if line.startswith("- ")]
    assert len(bullets) == 21 and bullets[-1] == "- and 124,981 more problems", bullets[-3:]
    assert len(note) < 8_000, len(note)
    assert 250 < len(bullets[0]) <= 302 and bullets[0].endswith("…")  # a quoted 20,000-character value is cut
    assert at.session_state["config"].optimizers[0].name == "adam"
    assert len(at.session_state["url_notes"]) == 21  # what the session keeps, too


def test_a_few_notes_are_listed_in_full():
    at = ok(page({"steps": "-5", "zzz": "1"}))
    bullets = [line for line in link_warning(at).splitlines() if line.startswith("- ")]
    assert len(bullets) == 2 and not any("more problems" in b for b in bullets)


def unread_link_checks(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "optvis-unread-link" in h.proto.body]


def test_a_link_streamlit_drops_gets_the_browser_side_note():
    """Over 1,000 fields: Streamlit hands the script no query parameters at all. The page opens its
    default view with the check that tells the reader (in the browser, which still has the link);
    tests/e2e/test_session_bounds_browser.py sees it shown."""
    from streamlit.runtime.state import query_params as streamlit_query

    from ui import surfaces_page

    assert (surfaces_page.LINK_MAX_FIELDS, surfaces_page.LINK_MAX_CHARS) == (
        streamlit_query.CLIENT_STATE_QUERY_STRING_MAX_FIELDS, streamlit_query.CLIENT_STATE_QUERY_STRING_MAX_LENGTH)
    at = ok(page({f"p{i}": "1" for i in range(1001)}))
    assert at.session_state["config"] == state.make_config()  # nothing of the link was read
    assert not [w for w in at.warning if "could not be used" in w.value]
    (check,) = unread_link_checks(at)
    assert "too long to read" in check and "1000" in check and str(512 * 1024) in check
    ok(at.number_input(key="steps").set_value(300).run())
    assert not unread_link_checks(at)  # the view is no longer the default one the note speaks of


def test_a_link_that_was_read_gets_no_unread_check():
    at = ok(page({"steps": "300"}))
    assert not unread_link_checks(at)


def test_the_animation_states_its_cap_and_the_heaviest_view_stays_within_it():
    """The heaviest view (12 optimizers x 1000 starts, as many steps as the page runs): today a
    35 MB animation of 84 frames. The opening view keeps its 200 frames."""
    from plots import animation_html

    at = ok(page())
    (label,) = [b.proto.label for b in at.get("download_button") if "animation" in b.proto.label]
    assert label == "Playback animation (HTML, ≤ 20 MB)"
    assert export.animation_frames(result_of(at.session_state["config"])) == export.ANIMATION_MAX_FRAMES

    res = result_of(ok(page(WORST_LINK)).session_state["config"])
    html = animation_html(res, max_frames=export.animation_frames(res))
    assert len(html.encode()) <= export.ANIMATION_MAX_BYTES, len(html) / 1e6
