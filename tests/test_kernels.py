"""The kernels package's own guarantees: tracing is safe across threads, surface parameters are
kernel inputs, cache keys cover what compiled code depends on, compiles happen only in worker
processes, failures are logged once and not retried, damaged or unusable caches fall back to the
array code, and the final-state kernel ends where the recorded trajectory does.

The references are the single-threaded trace, the array code of optimizers.run (itself held to
torch.optim elsewhere) and the files the cache leaves on disk.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from optimizers import freeze, get_optimizer, kernels, run
from optimizers import transforms as tf
from optimizers.kernels import cache
from optimizers.kernels.trajectory import build_trajectory_kernel
from surfaces import get_surface

STARTS = [[-1.5, 2.0], [0.5, -0.5], [1.2, 1.2]]
FIELDS = ("path", "loss", "grad", "grad_norm", "eff_lr", "diverged_at", "converged_at")


def assert_identical(a, b):
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in a.state:
        np.testing.assert_array_equal(a.state[name], b.state[name], err_msg=name)


@pytest.fixture
def kernel_dir(tmp_path, monkeypatch):
    """An empty kernel folder and a cache that has loaded, failed or queued nothing yet."""
    directory = tmp_path / "kernels"
    monkeypatch.setenv("OPTVIS_KERNEL_DIR", str(directory))
    for name in ("_LOADED", "_FAILED", "_UNUSABLE"):
        monkeypatch.setattr(cache, name, {})
    monkeypatch.setattr(cache, "_PENDING", set())
    monkeypatch.setattr(cache, "AUTO", True)  # the suite keeps it off elsewhere (conftest)
    return directory


def _distinct_cases():
    """(surface, config, transforms) triples whose traced sources all differ."""
    configs = [get_optimizer("adam", lr=0.01, amsgrad=a, weight_decay=w) for a in (False, True) for w in (0.0, 0.1)]
    configs += [get_optimizer("sgd", lr=1e-3, momentum=m, nesterov=nv) for m, nv in ((0.0, False), (0.9, False), (0.9, True))]
    configs += [get_optimizer("rmsprop", lr=1e-3, centered=c, momentum=m) for c in (False, True) for m in (0.0, 0.5)]
    configs += [get_optimizer(name, lr=0.01) for name in ("adagrad", "adadelta", "adamax", "nadam", "radam", "gnsgd")]
    surfaces = [get_surface(name) for name in ("rosenbrock", "quadratic", "himmelblau", "ackley")]
    chains = [tf.chain(False, None, None), tf.chain(True, 1.0, None), tf.chain(False, None, 0.5)]
    return [(s, c, ch) for s in surfaces for c in configs for ch in chains]


def test_tracing_from_many_threads_gives_the_single_threaded_source():
    cases = _distinct_cases()
    trace = build_trajectory_kernel  # past the cache: every call traces anew
    expected = [trace(s, c, 2, ch).source for s, c, ch in cases]
    assert len(set(expected)) == len(cases)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to widen any window
    try:
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda case: trace(case[0], case[1], 2, case[2]).source, cases * 2))
    finally:
        sys.setswitchinterval(interval)
    assert got == expected * 2


def test_two_values_of_a_surface_parameter_share_one_kernel(kernel_dir):
    configs = [get_optimizer("adam", lr=0.01), get_optimizer("sgd", lr=1e-3, momentum=0.9)]
    chain = tf.chain(False, None, None)
    steep, flat = get_surface("rosenbrock", b=100.0), get_surface("rosenbrock", a=0.5, b=7.0)
    for c in configs:
        assert kernels.trajectory_kernel(steep, c, 2, chain).key == kernels.trajectory_kernel(flat, c, 2, chain).key
    adam = configs[:1]  # one rule's kernels are enough to show the sharing (each compile takes seconds)
    for surface in (steep, flat, get_surface("quadratic", condition=50.0, angle=-20.0),
                    get_surface("quadratic", condition=3.0), get_surface("rastrigin", A=4.0)):
        assert_identical(run(surface, adam, STARTS, steps=120, compiled=True),
                         run(surface, adam, STARTS, steps=120, compiled=False))
    assert len(list(kernel_dir.glob("k_*.ready"))) == 3  # rosenbrock, quadratic, rastrigin
    assert run(get_surface("rosenbrock", b=3.0), adam, STARTS, steps=10).slow_reason is None


def test_the_key_covers_the_support_code_and_the_versions(tmp_path, monkeypatch):
    kernel = kernels.trajectory_kernel(get_surface("booth"), get_optimizer("adam"), 2, ())
    key = kernel.key
    edited = tmp_path / "support.py"
    edited.write_text(cache.SUPPORT.read_text() + "\n# an edit\n")
    monkeypatch.setattr(cache, "SUPPORT", edited)
    cache.environment.cache_clear()
    try:
        assert cache.Kernel(kernel.source).key != key
        monkeypatch.setattr(cache, "SUPPORT", cache.Path(cache.__file__).with_name("support.py"))
        cache.environment.cache_clear()
        assert cache.Kernel(kernel.source).key == key
        monkeypatch.setattr(cache.numba, "__version__", "0.0.1")
        cache.environment.cache_clear()
        assert cache.Kernel(kernel.source).key != key
    finally:
        monkeypatch.undo()
        cache.environment.cache_clear()
    assert cache.Kernel(kernel.source).key == key


def _wait_idle(timeout=300.0):
    deadline = time.monotonic() + timeout
    while cache._PENDING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cache._PENDING


def test_a_missing_kernel_compiles_in_a_worker_never_in_this_process(kernel_dir):
    surface, config = get_surface("beale"), get_optimizer("adamax", lr=0.0123)
    kernel = kernels.trajectory_kernel(surface, config, 2, ())
    assert kernels.get(kernel) is None  # queued, not compiled here
    assert f"_optvis_kernel_{kernel.key}" not in sys.modules
    assert kernels.reason(kernel) == "kernels are compiling in the background"
    res = run(surface, [config], STARTS, steps=50)
    assert res.slow_reason == "kernels are compiling in the background"
    _wait_idle()
    assert (kernel_dir / f"k_{kernel.key}.ready").exists() and not list(kernel_dir.glob(".stage-*"))
    module = kernels.get(kernel)
    assert module is not None and module.kernel.stats.cache_misses == {}  # loaded, not compiled
    fast = run(surface, [config], STARTS, steps=50)
    assert fast.slow_reason is None
    assert_identical(fast, res)


def test_a_failing_kernel_is_logged_once_and_not_retried(kernel_dir, caplog, monkeypatch):
    broken = cache.Kernel('from numba import njit\n\n\n@njit("float64(float64)", cache=True)\n'
                          'def kernel(x):\n    return undefined_name + x\n')
    launches = []
    real_popen = cache.subprocess.Popen
    monkeypatch.setattr(cache.subprocess, "Popen", lambda *a, **kw: launches.append(a) or real_popen(*a, **kw))
    with caplog.at_level(logging.ERROR, logger="optimizers.kernels"):
        assert kernels.get(broken, wait=True) is None
        for _ in range(3):
            assert kernels.get(broken) is None
            assert kernels.get(broken, wait=True) is None
    assert len(launches) == 1
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "undefined_name" in caplog.records[0].getMessage()
    assert "failed to compile" in kernels.reason(broken) and "compile.log" in kernels.reason(broken)
    log_text = (kernel_dir / "compile.log").read_text()
    assert log_text.count(f"kernel {broken.key} failed") == 1 and "undefined_name" in log_text
    cache._FAILED.clear()  # as a new process: the failure on disk is not retried either
    assert kernels.get(broken, wait=True) is None and len(launches) == 1


def test_a_stale_staging_folder_is_removed_by_the_next_compile(kernel_dir):
    """A worker killed with SIGKILL leaves its staging folder; the next compile removes it once it
    is older than any worker run, and leaves a fresh one (another worker's) alone."""
    import os

    stale, fresh = kernel_dir / ".stage-killed", kernel_dir / ".stage-running"
    for stage in (stale, fresh):
        (stage / "__pycache__").mkdir(parents=True)
        (stage / "__pycache__" / "k_x.nbi.tmp.1").write_bytes(b"partial")
    old = time.time() - cache.STALE_STAGE_S - 60
    os.utime(stale, (old, old))
    kernel = kernels.trajectory_kernel(get_surface("booth"), get_optimizer("sgd", lr=0.0371), 2, ())
    assert kernels.get(kernel, wait=True) is not None
    assert not stale.exists() and fresh.exists()


def test_damaged_cache_files_are_compiled_again_not_loaded(kernel_dir):
    surface, configs = get_surface("booth"), [get_optimizer("radam", lr=0.05)]
    reference = run(surface, configs, STARTS, steps=40, compiled=False)
    kernel = kernels.trajectory_kernel(surface, configs[0], 2, ())
    assert kernels.get(kernel, wait=True) is not None
    cache._LOADED.clear()
    sys.modules.pop(f"_optvis_kernel_{kernel.key}")
    for path in cache.cache_files(kernel_dir, kernel.key):
        path.write_bytes(b"garbage" + path.read_bytes()[7:])
    assert not kernels.is_ready(kernel) and not (kernel_dir / f"k_{kernel.key}.ready").exists()
    assert run(surface, configs, STARTS, steps=40).slow_reason == "kernels are compiling in the background"
    _wait_idle()
    assert_identical(run(surface, configs, STARTS, steps=40, compiled=True), reference)


def test_a_read_only_kernel_folder_keeps_the_array_code(kernel_dir, monkeypatch):
    surface, configs = get_surface("booth"), [get_optimizer("adagrad", lr=0.31)]
    kernel = kernels.trajectory_kernel(surface, configs[0], 2, ())
    assert kernels.get(kernel, wait=True) is not None
    cache._LOADED.clear()
    sys.modules.pop(f"_optvis_kernel_{kernel.key}")
    monkeypatch.setattr(cache.os, "access", lambda path, mode: False)  # as a folder mounted read-only
    res = run(surface, configs, STARTS, steps=30)
    assert "not usable" in res.slow_reason
    assert f"_optvis_kernel_{kernel.key}" not in sys.modules
    assert_identical(res, run(surface, configs, STARTS, steps=30, compiled=False))


def test_the_final_state_kernel_ends_where_the_recorded_trajectory_does(kernel_dir):
    surface = get_surface("himmelblau")
    configs = [get_optimizer("adam", lr=0.1), get_optimizer("sgd", lr=0.05)]  # sgd diverges
    rng = np.random.default_rng(3)
    starts = np.vstack([rng.uniform(-5, 5, (40, 2)), [[1500.0, 0.0]]])  # the last: loss above the bound at once
    steps, tol = 300, 1e-3
    full = run(surface, configs, starts, steps=steps, tol=tol, compiled=False)
    k, n = len(configs), len(starts)
    fin_p, fin_loss, fin_gnorm = np.empty((k, n, 2)), np.empty((k, n)), np.empty((k, n))
    diverged, converged = np.empty((k, n), np.int64), np.empty((k, n), np.int64)
    for row, config in enumerate(configs):
        kernel = kernels.trajectory_kernel(surface, config, 2, (), record=False)
        module = kernels.get(kernel, wait=True)
        args = kernels.kernel_arguments(kernel, surface, [config], full.lr[row:row + 1], None, 2, None, None, tol)
        kernels.run_group(module, [row], starts, args + (fin_p, fin_loss, fin_gnorm, diverged, converged))
    np.testing.assert_array_equal(diverged, full.diverged_at)
    np.testing.assert_array_equal(converged, full.converged_at)
    assert (full.diverged_at[1] >= 0).sum() > 10 and (full.converged_at[0] >= 0).sum() > 3
    last = freeze.stop_index(full.diverged_at, full.converged_at, steps)
    ks, ns = np.indices((k, n))
    at_start = diverged == 0
    np.testing.assert_array_equal(fin_p[~at_start], full.path[ks, ns, last][~at_start])
    np.testing.assert_array_equal(fin_loss[~at_start], full.loss[ks, ns, last][~at_start])
    np.testing.assert_array_equal(fin_gnorm[~at_start], full.grad_norm[ks, ns, last][~at_start])
    np.testing.assert_array_equal(fin_p[at_start], starts[[-1, -1]])


def test_tracing_is_context_local():
    from optimizers.kernels.tracer import Emitter, leaf

    seen = {}

    def trace_in_thread():
        with Emitter("w") as em:
            _ = leaf("x", traj=True) * 3.0
            seen["lines"] = em.lines

    with Emitter("v") as outer:
        x = leaf("x", traj=True) + 1.0
        thread = threading.Thread(target=trace_in_thread)
        thread.start()
        thread.join()
        _ = x * 2.0
    assert outer.lines == ["v0 = x + 1.0", "v1 = v0 * 2.0"]
    assert seen["lines"] == ["w0 = x * 3.0"]
