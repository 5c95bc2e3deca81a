"""What one MNIST job may take from a server every session shares (issue #13).

- Work: a training's cost grows as K x steps x batch x H (the first layer's products, forward and
  backward, dominate it); a job may do at most MAX_WORK of it. The page states the cap in
  optimizer-steps (K x steps) at the chosen batch size and H, and lowers the steps to fit
  (`capped_steps`), as the 2-D page does with K x N x T.
- One running job per session: `SessionJobs.claim` refuses a second start while the session's
  first job runs (`Busy`). A session is one browser tab; the page passes its own token.
- Priority: a job trains on THREADS thread(s) at a raised nice value (`lower_priority`). On the
  2-core server, two jobs of two threads each (the trainer's default) oversubscribed the cores
  and their shards handed work to each other through a thread pool: the 2-D page's median rerun
  went from 0.07 s to 0.39 s while two such jobs trained. One thread each plus the nice value:
  0.064 s -> 0.078 s, and the trainings ran faster too (13 against 5 steps/s each, 12 optimizers,
  H = 128, batch 512). Either alone was not enough (about 2x). bench/mnist_contention.py
  measures it.

Nothing here imports Streamlit: the page passes what it needs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Protocol

# K * steps * batch * H: a job does about 1e7 a second on its core of the 2-core server, alone or
# beside another, so about five minutes (12 optimizers, H = 128, batch 512: 3,814 steps).
MAX_WORK = 3_000_000_000
NICE = 10  # added to a training thread's nice value: the scheduler prefers the scripts' threads
THREADS = 1  # threads a job trains on: MAX_JOBS jobs on as many cores, none shared between two jobs


def work(k: int, steps: int, batch_size: int, hidden: int) -> int:
    """The cost measure of training k configurations for `steps` steps of `batch_size` on H = hidden."""
    return k * steps * batch_size * hidden


def max_optimizer_steps(batch_size: int, hidden: int) -> int:
    """The most optimizer-steps (K x steps) a job at this batch size and H may do."""
    return MAX_WORK // (batch_size * hidden)


def capped_steps(k: int, steps: int, batch_size: int, hidden: int) -> int:
    """`steps`, lowered so that k configurations stay within MAX_WORK (at least one step)."""
    return max(1, min(steps, max_optimizer_steps(batch_size, hidden) // max(k, 1)))


def check_work(k: int, steps: int, batch_size: int, hidden: int) -> None:
    """ValueError when the job is over the cap (the page lowers its steps before starting one)."""
    if work(k, steps, batch_size, hidden) > MAX_WORK:
        raise ValueError(f"Invalid job: {k} optimizers x {steps:,} steps is more than the "
                         f"{max_optimizer_steps(batch_size, hidden):,} optimizer-steps a job at batch {batch_size} "
                         f"and H = {hidden} may take")


# --- one running job per session ---------------------------------------------------------------------


class Running(Protocol):
    @property
    def running(self) -> bool: ...


class Busy(RuntimeError):
    """The session already has a running job (`job`)."""

    def __init__(self, job: Running):
        super().__init__("this session already has a training running: stop it, or wait for it to end "
                         "(one running job per session)")
        self.job = job


class SessionJobs:
    """owner (a session's token) -> its running job; thread-safe, server-wide."""

    def __init__(self):
        self._jobs: dict[str, Running] = {}
        self._lock = threading.Lock()

    def claim(self, owner: str, job: Running) -> None:
        """Make `job` the owner's running job; Busy if the owner's previous job still runs."""
        with self._lock:
            current = self._jobs.get(owner)
            if current is not None and current is not job and current.running:
                raise Busy(current)
            for done in [o for o, j in self._jobs.items() if not j.running]:
                del self._jobs[done]  # finished jobs (and their results) are not kept here
            self._jobs[owner] = job

    def running(self, owner: str) -> Running | None:
        """The owner's running job, or None."""
        with self._lock:
            job = self._jobs.get(owner)
        return job if job is not None and job.running else None

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()


# --- priority ----------------------------------------------------------------------------------------


def lower_priority(nice: int = NICE) -> None:
    """Raise the calling thread's nice value by `nice` (Linux: per thread; threads it starts
    inherit it). For good: an unprivileged thread cannot lower it again, so call it only in a
    thread of its own. Elsewhere, or where it is not allowed, nothing happens."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
