"""A server-wide store of finished runs: a thread-safe least-recently-used map of bounded size.

Plain module state behind a lock (not a Streamlit cache a client can clear), shared by every
session of the server process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class RunStore:
    """config -> finished run, the `size` most recently used kept."""

    def __init__(self, size: int):
        self.size = size
        self._runs: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, config: Hashable) -> Any | None:
        """The run kept for `config` (now the most recently used), or None."""
        with self._lock:
            if config not in self._runs:
                return None
            self._runs.move_to_end(config)
            return self._runs[config]

    def put(self, config: Hashable, run: Any) -> None:
        """Keep `run` for `config`, dropping the least recently used beyond `size`."""
        with self._lock:
            self._runs[config] = run
            self._runs.move_to_end(config)
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
