"""The server-wide result store (ui/shared_results.py): one computation per key however many
sessions ask at once, one read-only copy shared, a byte budget, and a bound on memory in flight."""

import threading
import time

import numpy as np
import pytest

from ui.shared_results import InFlight, SharedResults, array_bytes


def test_many_sessions_asking_at_once_compute_once_and_share_one_read_only_copy():
    store, calls = SharedResults(max_entries=4, max_bytes=10**9), []

    def compute():
        calls.append(1)
        time.sleep(0.2)
        return {"path": np.ones((100, 2))}

    got = []
    threads = [threading.Thread(target=lambda: got.append(store.get("link", compute))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 8 and all(g is got[0] for g in got)
    with pytest.raises(ValueError, match="read-only"):
        got[0]["path"][0, 0] = 5.0


def test_the_byte_budget_drops_the_least_recently_used():
    store = SharedResults(max_entries=10, max_bytes=3 * 8000)
    for key in "abc":
        store.get(key, lambda: np.zeros(1000))  # 8,000 bytes each
    store.get("a", lambda: pytest.fail("kept"))  # a is now the most recent
    store.get("d", lambda: np.zeros(1000))
    assert len(store) == 3 and store.bytes == 24_000
    calls = []
    store.get("b", lambda: calls.append(1) or np.zeros(1000))  # b was dropped: computed again
    assert calls == [1]
    big = SharedResults(max_entries=10, max_bytes=100)
    big.get("huge", lambda: np.zeros(1000))  # over the budget alone: kept until the next one
    assert len(big) == 1


def test_a_failed_computation_reaches_its_caller_and_the_next_caller_tries_again():
    store = SharedResults(max_entries=4)
    with pytest.raises(ValueError, match="bad"):
        store.get("k", lambda: (_ for _ in ()).throw(ValueError("bad")))
    assert store.get("k", lambda: 3) == 3


def test_array_bytes_counts_each_array_once():
    a = np.zeros(100)
    assert array_bytes({"x": a, "y": [a, np.zeros(10, dtype=np.float32)]}) == 840


def test_computations_in_flight_stay_within_their_byte_budget():
    budget, peak, lock = InFlight(300), [0], threading.Lock()
    holding = [0]

    def work(n):
        with budget(n):
            with lock:
                holding[0] += n
                peak[0] = max(peak[0], holding[0])
            time.sleep(0.05)
            with lock:
                holding[0] -= n

    threads = [threading.Thread(target=work, args=(100,)) for _ in range(12)]
    threads.append(threading.Thread(target=work, args=(1000,)))  # larger than the budget: runs alone
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= 1000 and budget.held == 0 and budget.running == 0
