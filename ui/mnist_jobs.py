"""MNIST training jobs and the store of finished runs, shared by every session of the server.

A press of Train becomes a `Job` (`start`): a finished run from the store, or a thread (`work`)
that waits for one of MAX_JOBS training slots, trains streaming its partial results into the job,
then computes the landscape and the predictions (`finish`) and stores the run.

What a job may take is limited (ui/mnist_limits.py): its work (K x steps x batch x H), one running
job per session (`start`'s owner), and its thread's priority (lowered, for the other sessions).

The slots and the store are module state guarded by locks, not st.cache_resource: a client's
"Clear caches" empties those, which would forget the finished runs and hand out fresh slots
while trainings are still running.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from mnist import data as mnist
from mnist.landscape import Landscape, loss_landscape
from mnist.mlp import make_model
from mnist.train import TrainConfig, TrainResult, train_stream

from . import mnist_limits as limits
from .run_store import RunStore

MAX_JOBS = 2  # trainings running at once on this server (one per core); more wait in a queue
STORE_SIZE = 6  # finished runs kept
FIRST_WAIT = 1.5  # seconds a Train press waits for the first partial result before drawing
ABANDON_S = 30.0  # a job whose page has not polled it for this long is stopped

SLOTS = threading.BoundedSemaphore(MAX_JOBS)  # server-wide training slots, shared with the edge-of-stability runs
_runs = RunStore(STORE_SIZE)
_sessions = limits.SessionJobs()  # one running job per session (ui/mnist_limits.py)
_ids = itertools.count(1)


# --- the store of finished runs ----------------------------------------------------------------------


@dataclass
class Finished:
    """A finished (or stopped) run with what the page draws after training."""

    result: TrainResult
    landscape: Landscape | None
    landscape_error: str | None
    predictions: np.ndarray  # [K, n_val] each optimizer's predicted class of every validation image


def stored(config: TrainConfig) -> Finished | None:
    """The finished run of `config` kept on this server, or None."""
    return _runs.get(config)


def store(config: TrainConfig, finished: Finished) -> None:
    """Keep `finished` as the run of `config`, dropping the least recently used beyond STORE_SIZE."""
    _runs.put(config, finished)


def forget_runs() -> None:
    """Empty the store (tests: every test trains afresh)."""
    _runs.clear()


# --- the training job ---------------------------------------------------------------------------------


@dataclass
class Job:
    """One press of Train. The thread writes `latest`, `finished`, `error`, `phase`; the page reads."""

    config: TrainConfig
    id: int = field(default_factory=lambda: next(_ids))
    stop: threading.Event = field(default_factory=threading.Event)
    first: threading.Event = field(default_factory=threading.Event)
    latest: TrainResult | None = None
    finished: Finished | None = None
    error: str | None = None
    phase: str = "starting"  # starting, queued, training, landscape, done
    cached: bool = False
    seen: float = field(default_factory=time.monotonic)  # last time a page showed this job

    def abandoned(self) -> bool:
        """No page has polled this job for ABANDON_S seconds: its tab was closed."""
        return time.monotonic() - self.seen > ABANDON_S

    @property
    def running(self) -> bool:
        return self.phase != "done"


def finish(result: TrainResult, data: mnist.MnistData) -> Finished:
    """Landscape and predictions of a final result."""
    try:
        land, land_error = loss_landscape(result, data.x_val, data.y_val), None
    except ValueError as exc:
        land, land_error = None, str(exc)
    model = make_model("numpy", result.config.hidden, len(result.labels), result.config.dtype)
    with np.errstate(all="ignore"):
        predictions = model.predict(result.final_params[:, None, :], data.x_val)
    return Finished(result, land, land_error, predictions)


def work(job: Job, data: mnist.MnistData, slots: threading.BoundedSemaphore = SLOTS) -> None:
    """The thread: wait for a training slot, train streaming into job.latest, then the landscape,
    then store the run. A job whose page is gone stops at its next step. It trains on
    limits.THREADS thread(s) at a lowered priority, so other sessions' scripts get the cores first."""
    limits.lower_priority()
    try:
        job.phase = "queued"
        while not slots.acquire(timeout=0.5):
            if job.stop.is_set() or job.abandoned():
                return
        try:
            job.phase = "training"
            for result in train_stream(job.config, data, stop=lambda: job.stop.is_set() or job.abandoned(), every=5,
                                       workers=limits.THREADS):
                job.latest = result
                job.first.set()
        finally:
            slots.release()
        job.phase = "landscape"
        job.finished = finish(result, data)
        if not result.stopped:
            store(job.config, job.finished)
    except Exception as exc:  # noqa: BLE001 - shown on the page instead of a traceback
        job.error = f"Training failed: {type(exc).__name__}: {exc}"
    finally:
        job.phase = "done"
        job.first.set()


def running_job(owner: str) -> Job | None:
    """The job of session `owner` still running (a training, a sweep or an edge-of-stability run), or None."""
    return _sessions.running(owner)


def claim(owner: str | None, job: Job) -> None:
    """Make `job` the running job of session `owner` (None: no session, tests and benchmarks);
    limits.Busy while its previous one runs."""
    if owner is not None:
        _sessions.claim(owner, job)


def start(config: TrainConfig, data: mnist.MnistData, owner: str | None = None) -> Job:
    """A finished run from the store, or a new job whose thread is started (waits up to FIRST_WAIT
    seconds for its first partial result, so the page can draw it at once).

    owner: the session's token; a second start while its job runs raises limits.Busy. A job over
    limits.MAX_WORK raises ValueError (the page lowers the steps first).
    """
    limits.check_work(len(config.optimizers), config.steps, config.batch_size, config.hidden)
    done = stored(config)
    job = Job(config) if done is None else Job(config, latest=done.result, finished=done, phase="done", cached=True)
    claim(owner, job)  # also a stored run: the session's running job would no longer be polled
    if job.cached:
        return job
    threading.Thread(target=work, args=(job, data), name=f"mnist-train-{job.id}", daemon=True).start()
    job.first.wait(FIRST_WAIT)
    return job
