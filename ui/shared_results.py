"""Results every session shares: one copy per setting, a byte budget, one computation at a time
per setting, and a bound on the memory that computations in flight may hold together.

Streamlit's st.cache_data hands every session its own (unpickled) copy of a cached value, so
eight sessions on one swarm link held eight copies of a 200 MB Result. Here a session gets the
cached object itself, its arrays set read-only so that no session can change what the others see.
Plain module state behind locks (not a Streamlit cache, which any client can clear):

- `SharedResults.get(key, compute, weight)`: the value for key, computed once even when many
  sessions ask at once (the others wait for it); values are kept while their bytes together stay
  under `max_bytes` and their number under `max_entries`, least recently used dropped first.
- `InFlight`: a computation that will allocate `n` bytes waits until the computations running
  hold no more than `budget - n` (one always runs, however large), so thirty sessions opening
  thirty different swarm links compute a few at a time instead of thirty 200 MB records at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np


def _arrays(value: Any):
    """The distinct NumPy arrays reachable through value's attributes, dicts and sequences (a
    few levels deep: a Result's fields and its state dict)."""
    seen: set[int] = set()
    todo = [(value, 0)]
    while todo:
        v, depth = todo.pop()
        if id(v) in seen or depth > 4:
            continue
        seen.add(id(v))
        if isinstance(v, np.ndarray):
            yield v
        elif isinstance(v, dict):
            todo += [(x, depth + 1) for x in v.values()]
        elif isinstance(v, (list, tuple)):
            todo += [(x, depth + 1) for x in v]
        elif hasattr(v, "__dict__") and not isinstance(v, type):
            todo += [(x, depth + 1) for x in vars(v).values()]


def freeze_arrays(value: Any) -> Any:
    """Set every NumPy array reachable from value (as _arrays walks it) read-only, in place;
    returns the value."""
    for a in _arrays(value):
        a.flags.writeable = False
    return value


def array_bytes(value: Any) -> int:
    """Bytes of the distinct NumPy arrays reachable from value (as _arrays walks it)."""
    return sum(a.nbytes for a in _arrays(value))


class InFlight:
    """A byte budget for computations running at once (see the module docstring)."""

    def __init__(self, budget: int):
        self.budget = budget
        self.held = 0
        self.running = 0
        self._cond = threading.Condition()

    def __call__(self, n: int):
        return _Claim(self, n)

    def acquire(self, n: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.running == 0 or self.held + n <= self.budget)
            self.held += n
            self.running += 1

    def release(self, n: int) -> None:
        with self._cond:
            self.held -= n
            self.running -= 1
            self._cond.notify_all()


class _Claim:
    def __init__(self, owner: InFlight, n: int):
        self.owner, self.n = owner, n

    def __enter__(self):
        self.owner.acquire(self.n)
        return self

    def __exit__(self, *exc):
        self.owner.release(self.n)


class SharedResults:
    """key -> value, shared by every session (see the module docstring)."""

    def __init__(self, max_entries: int, max_bytes: int | None = None):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._values: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._values.values())

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value for key: kept, being computed by another session (wait for it), or computed
        here (an exception is raised to this caller and the next asks again)."""
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key][0]
                pending = self._pending.get(key)
                if pending is None:
                    self._pending[key] = threading.Event()
                    break
            pending.wait()
        try:
            value = freeze_arrays(compute())
            self._keep(key, value, array_bytes(value))
            return value
        finally:
            with self._lock:
                self._pending.pop(key).set()

    def _keep(self, key: Hashable, value: Any, size: int) -> None:
        with self._lock:
            self._values[key] = (value, size)
            self._values.move_to_end(key)
            total = sum(s for _, s in self._values.values())
            while len(self._values) > 1 and (len(self._values) > self.max_entries
                                             or (self.max_bytes is not None and total > self.max_bytes)):
                _, (_, dropped) = self._values.popitem(last=False)
                total -= dropped

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
