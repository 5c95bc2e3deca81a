"""Compiled kernel modules on disk: keys, atomic writes, readiness markers, background compiles.

A `Kernel` is generated module source plus what its callers need to know of it. Its key hashes
everything the compiled code depends on: the source, the support module it imports, the
Python, NumPy, Numba and llvmlite versions and the CPU that code is compiled for. Compiling
never happens in the calling process: a worker process (kernels.worker) compiles a module in a
staging folder, moves Numba's cache files in, and writes the key's marker last; the caller loads
a module only once its marker is there and the cache files it lists are intact. In the kernel
directory ($OPTVIS_KERNEL_DIR, else ~/.cache/optimizer-visualizer/kernels):

    k_<key>.py             the generated source
    __pycache__/k_<key>.*  Numba's cache of its functions
    k_<key>.ready          marker: JSON of those cache files and their SHA-256
    k_<key>.failed         the compiler's output when compiling failed (the key is not retried)
    compile.log            one entry per failed compile

`get(kernel, wait=False)` returns the loaded module or None and queues one background compile;
`wait=True` compiles in a worker now and waits for it. `reason(kernel)` says why a kernel is not
available. At exit, running compile processes are ended and their staging folders removed.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import json
import logging
import os
import platform
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

try:  # the fast path is optional: without numba the array code serves
    import llvmlite
    import llvmlite.binding
    import numba
    import numba.core.registry
    import numpy

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

# OPTVIS_COMPILE=0 keeps the automatic choice on the array code (wait=True still compiles)
AUTO = os.environ.get("OPTVIS_COMPILE", "1") != "0"
COMPILE_TIMEOUT = 600.0  # seconds for one worker run
STALE_STAGE_S = 2 * COMPILE_TIMEOUT  # a staging folder older than any worker run: its worker is gone
log = logging.getLogger("optimizers.kernels")

_LOADED: dict[str, object] = {}  # key -> module
_FAILED: dict[str, str] = {}  # key -> reason
_UNUSABLE: dict[str, str] = {}  # kernel folder -> why it cannot be used (tried again on every call)
_PENDING: set[str] = set()
_LOCK = threading.Lock()
_KEY_LOCKS: dict[str, threading.Lock] = {}
_PROCESSES: dict[subprocess.Popen, Path] = {}  # running workers -> their staging folder
_QUEUE: queue.Queue = queue.Queue()
_THREAD: list[threading.Thread] = []
_CLOSING = threading.Event()
_BUILT = [0]  # background compile batches finished in this process
SUPPORT = Path(__file__).with_name("support.py")  # imported by generated modules: part of every key


@dataclass(frozen=True)
class Kernel:
    """Generated module source plus what its arguments need.

    hp_names: flattened numeric hyperparameters, in the order of the kernel's hpv columns.
    state_names: recorded per-parameter states, in the kernel's order.
    coef_names: surface coefficients, in the order of the kernel's q argument.
    """

    source: str
    hp_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()
    coef_names: tuple[str, ...] = ()

    @functools.cached_property
    def key(self) -> str:
        return hashlib.sha256((environment() + self.source).encode()).hexdigest()[:20]


@functools.cache
def environment() -> str:
    """What compiled code depends on besides its source, as text that enters every key."""
    support = SUPPORT.read_text()
    if not AVAILABLE:  # pragma: no cover
        return support
    cpu = llvmlite.binding.get_host_cpu_name() + llvmlite.binding.get_host_cpu_features().flatten()
    versions = f"python {platform.python_version()} numpy {numpy.__version__} numba {numba.__version__} " \
               f"llvmlite {llvmlite.__version__} cpu {cpu} worker 1"
    return versions + "\n" + support


def generation() -> int:
    """How many background compiles have finished in this process: a result computed on the array
    code while kernels compiled can be keyed by it, so that it is not served once they are ready."""
    return _BUILT[0]


def kernel_path() -> Path:
    """Where generated kernels live: $OPTVIS_KERNEL_DIR or the user cache directory."""
    base = os.environ.get("OPTVIS_KERNEL_DIR")
    if base:
        return Path(base)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "optimizer-visualizer" / "kernels"


def kernel_dir() -> Path:
    """kernel_path(), created if missing (OSError when it cannot be)."""
    directory = kernel_path()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def is_ready(kernel: Kernel) -> bool:
    """Whether the module is loaded, or compiled on disk with intact cache files."""
    if kernel.key in _LOADED:
        return True
    try:
        return _marker_valid(kernel_dir(), kernel.key)
    except OSError:
        return False


def reason(kernel: Kernel) -> str | None:
    """Why `kernel` is not available (None when it is loaded or ready to load)."""
    if not AVAILABLE:
        return "the numba package is not installed"
    if kernel.key in _FAILED:
        return _FAILED[kernel.key]
    if str(kernel_path()) in _UNUSABLE:
        return _UNUSABLE[str(kernel_path())]
    return None if is_ready(kernel) else "kernels are compiling in the background"


def get(kernel: Kernel, *, wait: bool = False):
    """The compiled module of `kernel`, or None (numba missing, failed, or not compiled yet:
    then one background process compiles it for a later call). wait: compile now instead."""
    modules = get_many([kernel], wait=wait)
    return modules[0] if modules else None


def get_many(kernels: list[Kernel], *, wait: bool = False) -> list | None:
    """The compiled modules of all `kernels`, or None when any is unavailable (the missing ones
    are queued for one background compile; with wait, compiled now in one worker process)."""
    if not AVAILABLE or any(k.key in _FAILED for k in kernels):
        return None
    unique = list({k.key: k for k in kernels}.values())
    try:
        directory = kernel_dir()
        missing = [k for k in unique if k.key not in _LOADED and not _marker_valid(directory, k.key)]
        for k in missing:
            if (directory / f"k_{k.key}.failed").exists():
                _fail(k.key, f"a kernel failed to compile; see {directory / 'compile.log'}")
                return None
        if missing:
            for k in missing:
                write_source(directory, k)
            if not wait:
                submit(missing)
                return None
            compile_now(missing)
            if any(k.key in _FAILED for k in missing):
                return None
        loaded = {k.key: load(directory, k) for k in unique}
        _UNUSABLE.pop(str(directory), None)
    except OSError as error:
        _unusable(error)
        return None
    return [loaded[k.key] for k in kernels]


def write_source(directory: Path, kernel: Kernel) -> Path:
    """The kernel's module file (written atomically when missing)."""
    path = directory / f"k_{kernel.key}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(kernel.source)
        os.replace(tmp, path)
    return path


def load(directory: Path, kernel: Kernel):
    """Import the compiled module of `kernel` (its marker is valid); once per process."""
    key = kernel.key
    if key in _LOADED:
        return _LOADED[key]
    with _LOCK:
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _LOADED:
            if not os.access(directory / "__pycache__", os.W_OK):
                # Numba would then look in another cache and compile here: refuse instead
                raise PermissionError(13, "its __pycache__ is not writable")
            module = import_module(directory / f"k_{key}.py", key)
            for value in vars(module).values():
                if isinstance(value, numba.core.registry.CPUDispatcher) and value.signatures:
                    value.disable_compile()  # a call with other argument types raises, never compiles here
            _LOADED[key] = module
    return _LOADED[key]


def import_module(path: Path, key: str):
    """Execute a kernel module file under the name Numba's cache knows it by."""
    name = f"_optvis_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def cache_files(directory: Path, key: str) -> list[Path]:
    return sorted((directory / "__pycache__").glob(f"k_{key}.*"))


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _marker_valid(directory: Path, key: str) -> bool:
    marker = directory / f"k_{key}.ready"
    try:
        listed = json.loads(marker.read_text())["files"]
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError):
        listed = None
    cache = directory / "__pycache__"
    try:
        if listed and all(file_digest(cache / name) == digest for name, digest in listed.items()):
            return True
    except OSError:
        pass
    log.warning("kernel %s: damaged cache files; compiling it again", key)
    for path in [marker, *cache_files(directory, key)]:
        path.unlink(missing_ok=True)
    return False


def _fail(key: str, why: str, details: str = "") -> None:
    """Record a kernel that cannot be had (logged once; not retried in this process)."""
    with _LOCK:
        if key in _FAILED:
            return
        _FAILED[key] = why
    log.error("kernel %s: %s%s", key, why, f"\n{details}" if details else "")


def _folder_problem(error: OSError) -> str:
    return f"the kernel folder is not usable ({error.strerror or error})"


def _unusable(error: OSError) -> None:
    """Note (and log once per folder) that the kernel folder cannot be used; not remembered per
    key, so the same kernels work again once the folder does."""
    where = str(kernel_path())
    with _LOCK:
        first = where not in _UNUSABLE
        _UNUSABLE[where] = _folder_problem(error)
    if first:
        log.warning("kernel folder %s: %s; the array code serves", where, _UNUSABLE[where])


def submit(kernels: list[Kernel]) -> None:
    """Queue a background compile of `kernels` (each key at most once at a time)."""
    with _LOCK:
        fresh = [k for k in kernels if k.key not in _PENDING and k.key not in _LOADED and k.key not in _FAILED]
        _PENDING.update(k.key for k in fresh)
        if not fresh or _CLOSING.is_set():
            return
        if not _THREAD:
            thread = threading.Thread(target=_serve, name="optvis-compile", daemon=True)
            thread.start()
            _THREAD.append(thread)
    _QUEUE.put(fresh)


def _serve() -> None:
    """The background compile thread: one worker process at a time, batching what is queued."""
    while not _CLOSING.is_set():
        batch = _QUEUE.get()
        while not _QUEUE.empty():
            batch += _QUEUE.get_nowait()
        try:
            compile_now(batch)
        except OSError as error:
            _unusable(error)
        finally:
            with _LOCK:
                _PENDING.difference_update(k.key for k in batch)
                _BUILT[0] += 1


def compile_now(kernels: list[Kernel]) -> None:
    """Compile `kernels` in one worker process and wait; failures are recorded, not raised."""
    if _CLOSING.is_set():
        return
    directory = kernel_dir()
    for k in kernels:
        write_source(directory, k)
    _remove_stale_stages(directory)
    stage = directory / f".stage-{uuid.uuid4().hex[:12]}"
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    with subprocess.Popen(  # noqa: S603 - our own interpreter on our own generated files
        [sys.executable, "-m", "optimizers.kernels.worker", str(directory), str(stage), *[k.key for k in kernels]],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as process:
        with _LOCK:
            _PROCESSES[process] = stage
        try:
            _, errors = process.communicate(timeout=COMPILE_TIMEOUT)
        except subprocess.TimeoutExpired:
            _end(process)
            _, errors = process.communicate()
        finally:
            with _LOCK:
                _PROCESSES.pop(process, None)
            shutil.rmtree(stage, ignore_errors=True)
    if _CLOSING.is_set():
        return
    for k in kernels:
        failed = directory / f"k_{k.key}.failed"
        if failed.exists():
            _fail(k.key, f"a kernel failed to compile; see {directory / 'compile.log'}", failed.read_text()[-4000:])
        elif not _marker_valid(directory, k.key):
            log.warning("kernel %s: the compile process ended without a result after %.0f s (exit %s): %s",
                        k.key, time.monotonic() - started, process.returncode, (errors or "")[-2000:])


def _remove_stale_stages(directory: Path) -> None:
    """Staging folders older than STALE_STAGE_S: left by a worker killed without cleanup (SIGKILL)."""
    for stage in directory.glob(".stage-*"):
        try:
            if time.time() - stage.stat().st_mtime > STALE_STAGE_S:
                shutil.rmtree(stage, ignore_errors=True)
        except OSError:
            pass


def _end(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        process.kill()


@atexit.register
def shutdown() -> None:
    """End running compile processes and remove their staging folders (at exit, or when asked)."""
    _CLOSING.set()
    with _LOCK:
        running = dict(_PROCESSES)
    for process, stage in running.items():
        _end(process)
        shutil.rmtree(stage, ignore_errors=True)
