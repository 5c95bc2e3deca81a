"""Words the Chinese page showed in English (#14): the results table's outcomes and the MNIST
data's description, each rewritten from the English the engine writes (ui/export, mnist.data)."""

import pytest

from mnist import data as mnist
from ui import i18n, mnist_page, surfaces_page

ENGLISH = ["not converged in 1000 steps", "diverged at step 71", "converged at step 131",
           "3/40 converged, 2/40 diverged (first at step 5)"]
CHINESE = ["1000 步内未收敛", "在第 71 步发散", "在第 131 步收敛", "3/40 收敛, 2/40 发散（最早在第 5 步）"]


@pytest.fixture
def chinese(monkeypatch):
    monkeypatch.setattr(i18n, "lang", lambda: "zh")


def test_outcomes_in_english_stay_as_the_engine_writes_them():
    assert [surfaces_page.outcome_words(text) for text in ENGLISH] == ENGLISH


def test_outcomes_in_chinese(chinese):
    assert [surfaces_page.outcome_words(text) for text in ENGLISH] == CHINESE


def test_the_embedded_data_is_described_in_chinese(chinese):
    text = mnist.load_embedded().description
    assert mnist_page.description_words(text) == (
        "内置 MNIST 子集：从 10,000 张官方测试图像中取 8,000 张训练、2,000 张验证（验证集为文件顺序中的最后几张）")
    seeded = mnist.load_embedded(seed=3).description
    assert mnist_page.description_words(seeded).endswith("（随机划分，种子 3）")
    assert mnist_page.description_words("something else") == "something else"


def test_the_array_code_notes_reasons_are_chinese(monkeypatch):
    """Every fixed reason the engine gives for running on its array code (Result.slow_reason, the
    kernel cache's reason), as written in its source, has a Chinese phrase for the page's note."""
    import inspect
    import re
    import sys

    from optimizers import final, kernels
    from ui import i18n

    monkeypatch.setattr(i18n, "lang", lambda: "zh")
    sources = "".join(inspect.getsource(m) for m in (final, sys.modules["optimizers.run"], kernels.cache))
    reasons = set(re.findall(r'(?:slow_reason = |return None, |return |else |found\), )"([a-z][a-z ]+)"', sources))
    assert {"this surface or optimizer has no compiled kernel", "kernels are compiling in the background"} <= reasons
    for reason in reasons:
        assert re.search("[\u4e00-\u9fff]", i18n.phrase(reason)), reason
