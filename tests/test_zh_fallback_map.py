"""The server-drawn map in Chinese (#14): where the map component is not available the page draws
plots.contour_figure with st.plotly_chart (through ui.charts, which puts it in the session's
language with i18n.figure). Every word a reader sees on it (legend entries and other trace names,
hovers, the exit arrows' labels, the arrow key, axis titles) is Chinese; what stays Latin is the
configurations' labels (optimizer names and torch.optim's hyperparameters), the axes' x and y and
the numbers, which are the English figure's, one for one."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

import ui.map_component
from optimizers import get_optimizer
from plots import contour_figure
from tests.test_app import figures, page
from tests.test_i18n import CJK, NUMBER, ok
from ui import i18n, state
from ui.compute import compute
from ui.presets import PRESETS

WORD = re.compile(r"[A-Za-z]{2,}")
PLOTLY = re.compile(r"%\{[^}]*\}|</?(b|i|br|extra)>")  # Plotly's fields and markup, not words


def _visible(fig: dict) -> list[str]:
    """The figure's strings a reader can see: trace names, hovers, point labels, annotations, axis
    and colour-bar titles."""
    out = []
    for trace in fig["data"]:
        out += [trace[key] for key in ("name", "hovertemplate") if isinstance(trace.get(key), str)]
        out += [v for key in ("text", "hovertext") if isinstance(trace.get(key), list) for v in trace[key]]
        bar = (trace.get("marker") or {}).get("colorbar") or trace.get("colorbar") or {}
        out += [bar["title"]["text"]] if isinstance((bar.get("title") or {}).get("text"), str) else []
    layout = fig["layout"]
    out += [a["text"] for a in layout.get("annotations") or ()]
    out += [layout[axis]["title"]["text"] for axis in ("xaxis", "yaxis")]
    return out


def _english_words(text: str, labels) -> list[str]:
    for label in sorted(labels, key=len, reverse=True):
        text = text.replace(label, "")
    return WORD.findall(PLOTLY.sub("", text))


def _configs():
    swarm = PRESETS["saddle"].config
    same = state.make_config("rosenbrock", {}, steps=60, optimizers=(
        get_optimizer("sgd", lr=1e-3), get_optimizer("sgd", lr=1e-3, dampening=0.5),  # one path, two labels
        get_optimizer("lbfgs", lr=1.0)))
    cases = {name: PRESETS[name].config for name in ("divergence", "saddle", "rosenbrock", "edge_of_stability")}
    cases["same_path_and_lbfgs"] = same
    cases["swarm"] = replace(swarm, swarm=40)
    return cases


CASES = _configs()


def _figure(config, lang: str, monkeypatch) -> tuple[dict, object]:
    res = compute(config)
    step = min(3, res.shape[2])
    monkeypatch.setattr(i18n, "lang", lambda: lang)
    return i18n.figure(contour_figure(res, step=step, arrows=True)), res


@pytest.mark.parametrize("name", list(CASES))
def test_no_english_word_on_the_chinese_map(name, monkeypatch):
    fig, res = _figure(CASES[name], "zh", monkeypatch)
    seen = _visible(fig)
    left = {w for text in seen for w in _english_words(text, res.labels)}
    assert not left, (left, [s for s in seen if set(_english_words(s, res.labels)) & left][:5])
    legend = [t["name"] for t in fig["data"] if t.get("showlegend", True) and t.get("name")]
    assert all(CJK.search(n) or n in res.labels for n in legend), legend


@pytest.mark.parametrize("name", list(CASES))
def test_the_chinese_map_states_the_english_numbers(name, monkeypatch):
    """Trace by trace the same strings with the same numbers: only words change."""
    english, res = _figure(CASES[name], "en", monkeypatch)
    chinese, _ = _figure(CASES[name], "zh", monkeypatch)
    assert len(english["data"]) == len(chinese["data"])
    en, zh = _visible(english), _visible(chinese)
    assert len(en) == len(zh)
    for a, b in zip(en, zh):
        assert sorted(NUMBER.findall(PLOTLY.sub("", a))) == sorted(NUMBER.findall(PLOTLY.sub("", b))), (a, b)


def test_the_english_map_is_left_as_built(monkeypatch):
    fig = contour_figure(compute(CASES["divergence"]), step=3, arrows=True)
    monkeypatch.setattr(i18n, "lang", lambda: "en")
    assert i18n.figure(fig) is fig


def test_what_is_marked_is_what_the_words_say(monkeypatch):
    """The diverged run's legend entry and exit label name the step the engine reports."""
    fig, res = _figure(CASES["divergence"], "zh", monkeypatch)
    k = int(next(i for i in range(res.shape[0]) if (res.diverged_at[i] >= 0).any()))
    first = int(res.diverged_at[k][res.diverged_at[k] >= 0].min())
    (path,) = [t for t in fig["data"] if (t.get("meta") or {}).get("role") == "path" and t["meta"]["config"] == k]
    assert path["name"] == f"{res.labels[k]} — 在第 {first} 步发散"
    (diverged,) = [t for t in fig["data"] if (t.get("meta") or {}).get("role") == "diverged"]
    stop = int(res.stop_index()[k][res.diverged_at[k] >= 0][0])
    assert diverged["text"][0].startswith(f"第 {stop} 步 → (")


def test_the_page_draws_the_chinese_map_without_the_component(monkeypatch):
    """The page itself, component unavailable, in Chinese: its map is the server-drawn one."""
    monkeypatch.setattr(ui.map_component, "available", lambda: False)
    config = PRESETS["divergence"].config
    at = ok(page({**state.encode(config, "divergence"), "lang": "zh"}))
    (fig,) = [f for f in figures(at) if any((t.get("meta") or {}).get("role") == "click" for t in f["data"])]
    labels = [t["meta"]["label"] for t in fig["data"] if "label" in (t.get("meta") or {})]
    left = {w for text in _visible(fig) for w in _english_words(text, labels)}
    assert not left, left
    assert any("发散" in t.get("name", "") for t in fig["data"])
