"""The interface's words in English and Simplified Chinese: `t(key, **fmt)` in the session's language.

The words are data beside the code, one catalogue per language (ui/locales/<lang>.toml), with
the same keys in every one (tests/test_i18n.py). A template formats its values the same way in
every language: `{steps:,}` or `{value:.4g}` is written once per catalogue, with the same spec.

Two kinds of text come from elsewhere as English and are translated by their English words:
help lines of the Hyperparameter specs, surface descriptions and the axis and colour-bar titles
of the figures plots/ builds (`phrase`, from the `phrases` table of a non-English catalogue;
English is the text itself). Preset stories are written in English with their claims in
ui/presets.py; a catalogue's `preset.<name>` table holds its translation of each one.

The language lives in session state ("lang"), set from the link's `lang` on a session's first run,
by the sidebar's switch after that, and written back to the link (`lang=zh`; English is the
default and leaves it out). Mathematics (LaTeX) is never translated.
"""

from __future__ import annotations

import functools
import string
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import streamlit as st

LANGS = {"en": "English", "zh": "中文"}
DEFAULT = "en"
KEY = "lang"  # session state of the switch, and the link's parameter
LOCALES = Path(__file__).parent / "locales"


@functools.cache
def catalogue(lang: str) -> dict[str, Any]:
    """The catalogue of `lang` as nested tables (read once per process)."""
    with open(LOCALES / f"{lang}.toml", "rb") as f:
        return tomllib.load(f)


def flat(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"a.b.c": text} of a nested catalogue table."""
    out: dict[str, str] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{name}."))
        else:
            out[prefix + name] = value
    return out


@functools.cache
def _entries(lang: str) -> dict[str, str]:
    return flat(catalogue(lang))


def lang() -> str:
    """The session's language (English outside a running page: tests, scripts)."""
    try:
        value = st.session_state.get(KEY, DEFAULT)
    except Exception:  # no script run context
        return DEFAULT
    return value if value in LANGS else DEFAULT


def t(key: str, **fmt: Any) -> str:
    """The text of `key` in the session's language, formatted with `fmt` (str.format)."""
    entries = _entries(lang())
    text = entries[key] if key in entries else _entries(DEFAULT)[key]
    return text.format(**fmt) if fmt else text


def placeholders(text: str) -> set[str]:
    """The `{name:spec}` fields of a template, as written."""
    return {f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name is not None}


def phrase(text: str) -> str:
    """English `text` from outside the catalogue (a spec's help, an axis title) in the session's
    language: its entry in the catalogue's phrases table, else the English."""
    if not text or lang() == DEFAULT:
        return text
    return catalogue(lang()).get("phrases", {}).get(text, text)


def titles(entries: Mapping[str, Any]) -> Callable[[str], str]:
    """A choice widget's format_func: each entry's title (an entry that is text: itself) in the
    session's language, fixed when the widget is drawn (Streamlit may call it outside the run)."""
    return {name: phrase(e if isinstance(e, str) else e.title) for name, e in entries.items()}.get


def preset(name: str, title: str, story: str, claims: tuple = ()) -> tuple[str, str]:
    """(title, story) of preset `name` in the session's language. A translated story is a
    template whose `{0}`, `{1}`, ... are the claims' words (numbers) as the English states them."""
    entry = catalogue(lang()).get("preset", {}).get(name) if lang() != DEFAULT else None
    if not entry:
        return title, story
    return entry["title"], entry["story"].format(*(c.text for c in claims))


# --- figures --------------------------------------------------------------------------------------

_TITLED = ("xaxis", "yaxis", "scene", "coloraxis")


def _title(holder: dict) -> None:
    title = holder.get("title")
    if isinstance(title, dict) and isinstance(title.get("text"), str):
        holder["title"] = {**title, "text": phrase(title["text"])}
    elif isinstance(title, str):
        holder["title"] = phrase(title)


def figure(fig: dict) -> dict:
    """A plots/ figure dict with its axis, colour-bar and annotation words in the session's language
    (the same dict in English). Trace names (the optimizers' labels) stay as they are."""
    if lang() == DEFAULT:
        return fig
    layout = dict(fig["layout"])
    _title(layout)
    for name, value in list(layout.items()):
        if isinstance(value, dict) and name.startswith(_TITLED):
            value = layout[name] = dict(value)
            _title(value)
            for axis in ("xaxis", "yaxis", "zaxis"):  # a 3-D scene's axes
                if isinstance(value.get(axis), dict):
                    value[axis] = dict(value[axis])
                    _title(value[axis])
    if isinstance(layout.get("annotations"), (list, tuple)):
        layout["annotations"] = [{**a, "text": phrase(a["text"])} if isinstance(a.get("text"), str) else a
                                 for a in layout["annotations"]]
    data = []
    for trace in fig["data"]:
        if not isinstance(trace, dict):
            data.append(trace)
            continue
        bar = trace.get("colorbar")
        if isinstance(bar, dict):
            bar = dict(bar)
            _title(bar)
            trace = {**trace, "colorbar": bar}
        marker = trace.get("marker")
        if isinstance(marker, dict) and isinstance(marker.get("colorbar"), dict):  # the map's level bar
            bar = dict(marker["colorbar"])
            _title(bar)
            trace = {**trace, "marker": {**marker, "colorbar": bar}}
        if isinstance(trace.get("name"), str):  # marker names ("minimum", "saddle"); labels have no entry
            trace = {**trace, "name": phrase(trace["name"])}
        data.append(trace)
    return {**fig, "data": data, "layout": layout}


def _run_id(run: str) -> str:
    return run if lang() == DEFAULT else f"{run}-{lang()}"


def map_data(data: dict) -> dict:
    """The map component's data (plots.playback_data, shared by every session) with its figures'
    and arrows' words in the session's language, under an id of its own so the browser redraws it
    on a switch (preview_data gives the lr preview the same). English: the same dict."""
    if lang() == DEFAULT:
        return data
    out = {**data, "id": _run_id(data["id"])}
    for name in ("map", "eff", "loss"):
        if isinstance(out.get(name), dict):
            out[name] = figure(out[name])
    if isinstance(out.get("arrow_kinds"), list):
        out["arrow_kinds"] = [{**kind, "text": phrase(kind["text"])} for kind in out["arrow_kinds"]]
    return out


def preview_data(data: dict) -> dict:
    """The lr preview's data (shared) for the map that map_data sent to this session."""
    return data if lang() == DEFAULT or "run" not in data else {**data, "run": _run_id(data["run"])}


# --- the switch -------------------------------------------------------------------------------------


def start() -> None:
    """First in every run of the app: the session's language from the link on its first run."""
    ss = st.session_state
    if KEY not in ss:
        wanted = st.query_params.get(KEY)
        ss[KEY] = wanted if wanted in LANGS else DEFAULT
    elif ss[KEY] not in LANGS:  # a crafted client's value for the switch
        ss[KEY] = DEFAULT


def query(params: dict) -> dict:
    """`params` (a page's query parameters) with the session's language, when not the default."""
    return {**params, KEY: lang()} if lang() != DEFAULT else params


def _keep_in_link() -> None:
    """The link says the session's language (English: no `lang`), other parameters untouched."""
    if lang() != DEFAULT:
        if st.query_params.get(KEY) != lang():
            st.query_params[KEY] = lang()
    elif KEY in st.query_params:
        del st.query_params[KEY]


def switch() -> None:
    """The one-click language switch (in the sidebar), and the link kept in step with it."""
    st.sidebar.segmented_control("Language / 语言", list(LANGS), key=KEY, required=True,
                                 format_func=LANGS.get, label_visibility="collapsed")
    _keep_in_link()
