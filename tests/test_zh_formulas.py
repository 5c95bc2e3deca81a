"""The Update rules section in Chinese (#14): the words of every rule's, effective lr's and
schedule's LaTeX (its \\text{...}) and the references are Chinese, the mathematics is the English
page's, character for character, and no Chinese stands outside \\text{} (KaTeX draws CJK in text
mode only). What stays English inside \\text{} is a parameter's name as torch.optim spells it (the
spec names, and the torch class's own signature)."""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from streamlit.testing.v1 import AppTest

from optimizers import OPTIMIZERS, SCHEDULES, get_optimizer
from optimizers.info import rule_latex
from tests.test_i18n import APP, CJK, NUMBER, ok
from ui import i18n, state

TEXT = re.compile(r"\\text\{([^{}]*)\}")
L1_MODES = ("subgradient", "proximal")
DECAY_MODES = ("coupled", "decoupled")


@pytest.fixture
def chinese(monkeypatch):
    monkeypatch.setattr(i18n, "lang", lambda: "zh")


def _names(owner) -> set[str]:
    """The parameter names (and choices) of an optimizer or a schedule: its specs' and its torch class's."""
    names = {spec.name for spec in owner.specs} | {c for spec in owner.specs for c in spec.choices or ()}
    if owner.torch_class:
        module = torch.optim if hasattr(torch.optim, owner.torch_class) else torch.optim.lr_scheduler
        names |= set(inspect.signature(getattr(module, owner.torch_class)).parameters)
    return names


def _formulas():
    """(owner, its English LaTeX) of every formula the section can show."""
    for o in OPTIMIZERS.values():
        yield o, rule_latex(o.latex, L1_MODES, DECAY_MODES, o.decoupled_by)
        yield o, o.eff_lr
    for s in SCHEDULES.values():
        yield s, s.latex


@pytest.mark.parametrize(("owner", "english"), list(_formulas()), ids=lambda v: getattr(v, "name", "latex"))
def test_the_words_are_chinese_and_the_mathematics_unchanged(chinese, owner, english):
    zh = i18n.latex_words(english)
    assert TEXT.sub("", zh) == TEXT.sub("", english), "the mathematics is the English page's"
    assert not CJK.search(TEXT.sub("", zh)), "Chinese outside \\text{}: KaTeX would warn and misdraw it"
    for words in TEXT.findall(zh):
        if CJK.search(words) or not re.search("[A-Za-z]", words):
            continue
        name = words.strip().rstrip(":").replace("\\_", "_")
        assert name in _names(owner), (owner.name, words)


def test_english_is_left_as_written():
    for _, english in _formulas():
        assert i18n.latex_words(english) == english


def test_every_translation_states_the_same_numbers():
    """Each translated entry is Chinese, states the English's numbers and fills every {} of its key."""
    for table in ("rule_words", "script"):
        for english, translated in i18n.catalogue("zh")[table].items():
            assert CJK.search(translated), (table, english)
            fields = re.findall(r"\{(\d+)\}", translated)  # a template's {0}, {1} ... for its key's {}
            assert sorted(set(fields)) == [str(i) for i in range(english.count("{}"))], (english, translated)
            numbers = NUMBER.findall(re.sub(r"\{\d+\}", "", translated))
            assert sorted(NUMBER.findall(english)) == sorted(numbers), (english, translated)


def _plain_words(text: str) -> set[str]:
    """Lowercase English words of a reference outside code (dotted, hyphenated or snake names,
    versions) and outside a cited title (a parenthesis opening with a capital and holding spaces)."""
    text = re.sub(r"[（(][A-Z][^）)]* [^）)]*[）)]", "", text)
    text = re.sub(r"\S*[._\-=|^]\S*", "", text)
    return set(re.findall(r"\b[a-z]{2,}\b", text))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_references_keep_only_names(chinese, name):
    """A reference in Chinese keeps authors, titles, packages and parameter names; its other words
    (et al., section, reference, as ...) are Chinese."""
    info = OPTIMIZERS[name]
    words = _plain_words(i18n.phrase(info.reference, "rule_words"))
    packages = {w for line in (info.torch_snippet.imports if info.torch_snippet else ()) for w in line.split()}
    allowed = _names(info) | packages | {"nu"}  # nu: Newton's damping, as its formula writes it
    assert words <= allowed, words - allowed


def test_the_section_in_chinese_on_the_page():
    """The page in Chinese with the rules that lengthen the section: its formulas' words are
    Chinese and their effective-lr label too, English page beside it for the mathematics."""
    opts = (get_optimizer("sgd", lr=1e-3, momentum=0.9, nesterov=True, weight_decay=0.1, l1=0.01),
            get_optimizer("adam", lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True,
                          schedule=("constant_factor", {})),
            get_optimizer("lbfgs", lr=1.0))
    config = state.make_config("rosenbrock", {}, steps=20, optimizers=opts)
    pages = {}
    for lang in ("en", "zh"):
        at = AppTest.from_file(APP, default_timeout=120)
        for key, value in {**state.encode(config), "lang": lang}.items():
            at.query_params[key] = value
        pages[lang] = ok(at.run())
    rules = {lang: [e.value for e in at.latex if r"\begin{gathered}" in e.value or "lr: }" in e.value
                    or "学习率：}" in e.value or r"\eta\,(f" in e.value]
             for lang, at in pages.items()}
    assert len(rules["zh"]) == len(rules["en"]) == 7  # 3 rules, 3 effective lrs, the constant-factor schedule
    assert sum(r"\text{有效学习率：}" in v for v in rules["zh"]) == 3
    for en, zh in zip(rules["en"], rules["zh"]):
        assert TEXT.sub("", zh) == TEXT.sub("", en)
    names = set().union(*(_names(o.info) for o in opts), _names(SCHEDULES["constant_factor"]))
    english = {w.strip().rstrip(":").replace("\\_", "_") for v in rules["zh"] for w in TEXT.findall(v)
               if not CJK.search(w) and re.search("[A-Za-z]", w)}
    assert english <= names, english - names
    captions = {lang: [c.value for c in at.caption if "= `lr`" in c.value] for lang, at in pages.items()}
    assert len(captions["zh"]) == len(captions["en"]) == 4  # each rule's symbols, the schedule's
    assert all("; " in c and "(the scheduled lr at step t)" in c for c in captions["en"][:3])
    assert all("；" in c and "; " not in c and "（第 t 步调度后的学习率）" in c for c in captions["zh"][:3])


@pytest.mark.parametrize("preset", ["divergence", "rosenbrock"])
def test_the_playback_equation_has_chinese_words_at_every_status(chinese, preset):
    """The update at a moving step, at the last step (converged, diverged or final) and at the final
    point: its words Chinese, its numbers and mathematics the English one's; English left only as
    the configuration's label (the legend's) and the torch.optim state names."""
    from optimizers import run
    from plots.internals import update_equation
    from ui.presets import PRESETS

    config = PRESETS[preset].config
    res = run(config.get_surface(), list(config.optimizers), config.starts(), state.capped_steps(config), compiled=False,
              **config.run_kwargs())
    last = res.shape[2] - 1
    states = {name for names in res.state_names for name in names}
    for k in range(res.shape[0]):
        for step in (0, last - 1, last):
            english = update_equation(res, k, step)
            zh = i18n.latex_words(english)
            assert TEXT.sub("", zh) == TEXT.sub("", english) and NUMBER.findall(zh) == NUMBER.findall(english)
            for words in TEXT.findall(zh):
                core = words.strip().rstrip(":").strip().replace("\\_", "_")
                if CJK.search(words) or not re.search("[A-Za-z]", words):
                    continue
                assert core in states or core in res.labels[k] or core in res.configs[k].info.title, (k, step, words)
        assert any(CJK.search(w) for w in TEXT.findall(i18n.latex_words(update_equation(res, k, last)))) \
            or res.shape[2] - 1 > int(res.stop_index()[k, 0]), (k, "the last step's status")


@pytest.mark.parametrize("mode", L1_MODES)
def test_the_sidebars_l1_line_is_in_chinese(mode):
    """The optimizer panel's L1 line (the penalty's step with its strength) in a Chinese page."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"lang": "zh", "opt": f"sgd~lr:0.001~l1:0.5~l1_mode:{mode}"})
    ok(at.run())
    lines = [e.value for e in at.latex if r"\lambda_1 = 0.5" in e.value]  # the panel's, and the update rules'
    assert lines
    for line in lines:
        assert TEXT.findall(line) and all(CJK.search(w) for w in TEXT.findall(line) if re.search("[A-Za-z]", w)), line
