"""Every symbol a formula on the page writes is defined beside it, and means one thing (issue #14).

The symbols are read out of the LaTeX strings themselves (Greek letters with their primes and
subscripts, and decorated letters such as \\bar g_t), independently of the symbols lists, so a new
formula with an undefined letter fails here.
"""

from __future__ import annotations

import re

import pytest

from optimizers.info import L1, THETA_NOW, WEIGHT_DECAY, rule_latex, weight_decay_latex, weight_decay_mode
from optimizers.registry import OPTIMIZERS, get_optimizer
from optimizers.schedules import SCHEDULES
from optimizers.transforms import L1_SPECS
from ui import i18n
from ui.surfaces_page import DECAY_WORDS

GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon "
         "phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega").split()
_SUB = r"(?:_(?:\{[^{}]*\}|\\[A-Za-z]+|[A-Za-z0-9+-]))?"
TOKEN = re.compile(r"\\(?:bar|tilde|hat)\s*(?:\\(?:" + "|".join(GREEK) + r")(?![A-Za-z])|[A-Za-z])'*" + _SUB
                   + r"|\\(?:" + "|".join(GREEK) + r")(?![A-Za-z])'*" + _SUB)
INDEX = re.compile(r"[tijksK]")  # a running index: \mu_i, \mu_{t+1}, \eta_{t-1} are \mu_t, \eta_t


def normal(token: str) -> str:
    """A symbol token in one spelling: no spaces or braces around one letter, a running index as t."""
    token = re.sub(r"\s+", " ", token).replace("{g}", "g")
    token = re.sub(r"(\\(?:bar|tilde|hat)) ?", r"\1 ", token)
    token = re.sub(r"(\\(?:bar|tilde|hat)) (\\)", r"\1\2", token)
    head, sub, tail = token.partition("_")
    if sub:
        inner = tail[1:-1] if tail.startswith("{") else tail
        if INDEX.search(inner) and re.fullmatch(r"[tijksK0-9+\-]+", inner):
            tail = "t"
        elif tail.startswith("{") and len(inner) == 1:
            tail = inner
    return head + sub + tail


def tokens(latex: str) -> set[str]:
    """The symbols `latex` writes. \\text{...} and \\operatorname{...} hold words, not symbols."""
    latex = re.sub(r"\\(?:text|operatorname|mathrm)\{[^{}]*\}", " ", latex)
    return {normal(t) for t in TOKEN.findall(latex)}


def defined(symbols) -> dict[str, str | None]:
    return {normal(s.latex): s.hyperparameter for s in symbols}


def test_the_parser_reads_symbols_as_written():
    assert tokens(r"\tilde\eta_t = \frac{\eta_{t-1}}{1 + \kappa} \bar g_t^2 \hat m_t \beta_1^t \eta'_t") == {
        r"\tilde\eta_t", r"\eta_t", r"\kappa", r"\bar g_t", r"\hat m_t", r"\beta_1", r"\eta'_t"}
    assert tokens(r"\rho_\infty \mu_{t+1} \text{ \lambda } \epsilon_1") == {r"\rho_\infty", r"\mu_t", r"\epsilon_1"}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_symbol_of_an_optimizer_is_defined(name):
    info = OPTIMIZERS[name]
    written = tokens(info.latex) | tokens(info.eff_lr)
    missing = written - set(defined(info.symbols))
    assert not missing, (name, sorted(missing))


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_symbol_of_a_schedule_is_defined(name):
    info = SCHEDULES[name]
    missing = tokens(info.latex) - set(defined(info.symbols))
    assert not missing, (name, sorted(missing))


def test_the_added_lines_write_only_their_symbols():
    assert tokens(weight_decay_latex("coupled")) <= {r"\lambda", r"\theta_t", r"\theta"}
    assert tokens(weight_decay_latex("decoupled")) <= {r"\lambda", r"\theta", r"\eta_t"}
    assert r"\lambda_1" in tokens(rule_latex("x", ("subgradient", "proximal")))


def _spec_names(specs) -> set[str]:
    return {s.name for s in specs}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_hyperparameter_symbol_names_one_the_optimizer_has(name):
    info = OPTIMIZERS[name]
    specs = {s.name: s for s in info.specs}
    for symbol in info.symbols:
        if symbol.hyperparameter is None:
            assert symbol.words, (name, symbol.latex, "state needs its words")
            continue
        base, _, index = symbol.hyperparameter.partition("[")
        assert base in specs, (name, symbol.latex, symbol.hyperparameter, sorted(specs))
        if index:
            assert specs[base].kind == "pair", (name, symbol.hyperparameter)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_schedule_symbol_names_one_of_its_parameters(name):
    info = SCHEDULES[name]
    for symbol in info.symbols:
        if symbol.hyperparameter is None:
            assert symbol.words, (name, symbol.latex)
        else:
            assert symbol.hyperparameter in _spec_names(info.specs) | {"lr"}, (name, symbol.hyperparameter)


def test_the_common_symbols_name_real_hyperparameters():
    assert WEIGHT_DECAY.hyperparameter == "weight_decay" and L1.hyperparameter in _spec_names(L1_SPECS)


def _meanings(entries) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for info in entries:
        for symbol in info.symbols:
            if symbol.hyperparameter is not None:
                out.setdefault(normal(symbol.latex), set()).add(symbol.hyperparameter)
    return out


def test_no_symbol_means_two_hyperparameters_across_optimizers():
    clashes = {s: h for s, h in _meanings(OPTIMIZERS.values()).items() if len(h) > 1}
    assert not clashes, clashes
    assert _meanings(OPTIMIZERS.values())[r"\lambda"] == {"weight_decay"}
    assert _meanings([OPTIMIZERS["adagrad"]])[r"\kappa"] == {"lr_decay"}


# The lowest lr is torch's eta_min in the cosine schedules and min_lr in ReduceLROnPlateau: one
# meaning under two torch names, written alike on purpose.
SCHEDULE_EXCEPTIONS = {r"\eta_{min}": {"eta_min", "min_lr"}}


def test_no_symbol_means_two_parameters_across_schedules():
    clashes = {s: h for s, h in _meanings(SCHEDULES.values()).items() if len(h) > 1}
    assert clashes == SCHEDULE_EXCEPTIONS


def test_a_bare_greek_letter_is_one_hyperparameter_on_the_page():
    """\\mu is momentum wherever it stands alone; across optimizers and the L1 line."""
    meanings = _meanings([*OPTIMIZERS.values()])
    meanings.setdefault(normal(L1.latex), set()).add(L1.hyperparameter)
    bare = {s: h for s, h in meanings.items() if "_" not in s and "'" not in s}
    assert all(len(h) == 1 for h in bare.values()), bare


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGS if lang != i18n.DEFAULT])
def test_every_symbol_word_is_translated(lang):
    phrases = i18n.catalogue(lang)["phrases"]
    words = {s.words for o in (*OPTIMIZERS.values(), *SCHEDULES.values()) for s in o.symbols if s.words}
    words |= set(DECAY_WORDS.values()) | {THETA_NOW.words}
    missing = words - set(phrases)
    assert not missing, sorted(missing)


@pytest.mark.parametrize(("name", "hp", "mode"), [
    ("sgd", {"weight_decay": 0.1}, "coupled"),
    ("adam", {"weight_decay": 0.1}, "coupled"),
    ("adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}, "decoupled"),
    ("prodigy", {"weight_decay": 0.1}, "decoupled"),
    ("prodigy", {"weight_decay": 0.1, "decouple": False}, "coupled"),
    ("sgd", {}, None),
    ("adamw", {"weight_decay": 0.1}, None),  # its formula always writes it
    ("lion", {"weight_decay": 0.1}, None),
])
def test_weight_decay_shows_in_the_formula_when_on(name, hp, mode):
    config = get_optimizer(name, **hp)
    info = OPTIMIZERS[name]
    assert weight_decay_mode(info, config.hp) == mode
    latex = rule_latex(info.latex, weight_decay=(mode,) if mode else (), step=info.decoupled_by)
    if mode == "coupled":
        assert r"g_t \leftarrow g_t + \lambda \theta_{t-1}" in latex
    elif mode == "decoupled":
        assert r"\theta \leftarrow \theta (1 - " + info.decoupled_by + r" \lambda)" in latex
    else:
        assert latex == rule_latex(info.latex)
    assert (r"\lambda" in tokens(latex)) == (mode is not None or r"\lambda" in tokens(info.latex))


def test_formulas_without_weight_decay_in_them_are_the_rules_that_take_it_coupled_or_as_a_choice():
    """The formula writes weight decay exactly where torch applies it whatever the flags (AdamW,
    Lion, Muon, Adafactor, schedule-free); elsewhere it is the app's added line."""
    written = {n for n, o in OPTIMIZERS.items() if r"\lambda" in tokens(o.latex)}
    assert written == {"adamw", "lion", "adafactor", "muon", "sgd_schedule_free", "adamw_schedule_free"}
