"""What one MNIST job may take (issue #13): the work cap, one running job per session, the
training thread's lowered priority; directly on ui/mnist_limits.py and ui/mnist_jobs.py, and on
the page (AppTest)."""

from __future__ import annotations

import os
import threading
import time

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from mnist import data as mnist
from mnist.train import TrainConfig
from optimizers import get_optimizer
from tests.test_mnist_page import PAGE, TIMEOUT, W, ok, page
from ui import mnist_jobs as jobs
from ui import mnist_limits as limits


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    st.cache_resource.clear()
    jobs.forget_runs()
    yield
    st.cache_resource.clear()
    jobs.forget_runs()


@pytest.fixture(scope="module")
def embedded():
    return mnist.load_embedded()


def config(k: int = 2, steps: int = 100_000, hidden: int = 16, batch_size: int = 64) -> TrainConfig:
    return TrainConfig(tuple(get_optimizer("sgd", lr=0.01 * (i + 1)) for i in range(k)), hidden=hidden,
                       batch_size=batch_size, steps=steps)


def wait_done(*started: jobs.Job) -> None:
    for job in started:
        job.stop.set()
    deadline = time.monotonic() + TIMEOUT
    while any(j.running for j in started):
        assert time.monotonic() < deadline, [j.phase for j in started]
        time.sleep(0.05)


def test_work_cap_in_optimizer_steps():
    # the job: 12 optimizers, H = 128, batch 512, 200,000 steps
    assert limits.work(12, 200_000, 512, 128) > limits.MAX_WORK
    per_job = limits.max_optimizer_steps(512, 128)
    assert per_job == limits.MAX_WORK // (512 * 128)
    steps = limits.capped_steps(12, 200_000, 512, 128)
    assert steps == per_job // 12 and limits.work(12, steps, 512, 128) <= limits.MAX_WORK
    assert limits.capped_steps(5, 250, 64, 64) == 250  # the default run is far below the cap
    assert limits.capped_steps(12, 10, 4096, 512) >= 1
    with pytest.raises(ValueError, match="optimizer-steps"):
        limits.check_work(12, 200_000, 512, 128)


def test_start_refuses_a_job_over_the_cap(embedded):
    big = config(k=12, steps=200_000, hidden=128, batch_size=512)
    with pytest.raises(ValueError, match="12 optimizers x 200,000 steps"):
        jobs.start(big, embedded)


def test_one_running_job_per_session(embedded):
    first = jobs.start(config(), embedded, owner="tab-a")
    try:
        assert first.running and jobs.running_job("tab-a") is first
        with pytest.raises(limits.Busy) as refused:
            jobs.start(config(k=3), embedded, owner="tab-a")
        assert refused.value.job is first and "one running job per session" in str(refused.value)
        other = jobs.start(config(k=3), embedded, owner="tab-b")  # another session may
        wait_done(other)
    finally:
        wait_done(first)
    assert jobs.running_job("tab-a") is None
    again = jobs.start(config(steps=20), embedded, owner="tab-a")  # once it ended, the session may start again
    wait_done(again)


def test_session_registry_drops_finished_jobs():
    class Fake:
        def __init__(self, running):
            self.running = running

    reg = limits.SessionJobs()
    done, live = Fake(False), Fake(True)
    reg.claim("a", done)
    reg.claim("b", live)
    reg.claim("c", Fake(True))
    assert reg.running("a") is None and reg.running("b") is live
    with pytest.raises(limits.Busy):
        reg.claim("b", Fake(True))
    assert "a" not in reg._jobs  # a finished job's results are not kept by the registry
    live.running = False
    reg.claim("b", Fake(True))


def test_training_thread_runs_at_a_lowered_priority(embedded):
    job = jobs.start(config(), embedded)
    try:
        (thread,) = [t for t in threading.enumerate() if t.name == f"mnist-train-{job.id}"]
        here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(19, here + limits.NICE)
    finally:
        wait_done(job)


def test_page_lowers_the_steps_to_the_cap_with_a_note():
    at = page(steps=200_000, hidden=128, **{W + "batch": 512})
    steps = limits.capped_steps(5, 200_000, 512, 128)
    assert any("more than a run on this shared server may take" in w.value and f"training {steps:,} steps" in w.value
               for w in at.warning)
    assert any(f"{limits.max_optimizer_steps(512, 128):,} optimizer-steps" in c.value for c in at.caption)
    ok(at.button(key="mnist.train").click().run())
    job = at.session_state["mnist.job"]
    try:
        assert job.config.steps == steps
    finally:
        wait_done(job)


def test_page_allows_one_running_job_per_session():
    at = page(steps=100_000)
    ok(at.button(key="mnist.train").click().run())
    job = at.session_state["mnist.job"]
    try:
        assert job.running and at.button(key="mnist.train").disabled
        assert at.button(key="eos.run").disabled and at.button(key="eos.preset").disabled
        # a start that gets past the disabled buttons (a press already on its way) is refused with a note
        at.session_state["mnist.train_pressed"] = True
        ok(at.run())
        assert at.session_state["mnist.job"] is job
        assert any("one running job per session" in w.value for w in at.warning)
        other = ok(AppTest.from_file(PAGE, default_timeout=TIMEOUT).run())  # another tab: its own session
        assert not other.button(key="mnist.train").disabled
    finally:
        wait_done(job)
    ok(at.run())
    assert not at.button(key="mnist.train").disabled
