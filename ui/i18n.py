"""The interface's words in English and Simplified Chinese: `t(key, **fmt)` in the session's language.

The words are data beside the code, one catalogue per language (ui/locales/<lang>.toml), with
the same keys in every one (tests/test_i18n.py). A template formats its values the same way in
every language: `{steps:,}` or `{value:.4g}` is written once per catalogue, with the same spec.

Text that comes from elsewhere as English is translated by its English words: the
help lines of the Hyperparameter specs, surface descriptions and the axis and colour-bar titles
of the figures plots/ builds (`phrase`, from the `phrases` table of a non-English catalogue;
English is the text itself). Preset stories are written in English with their claims in
ui/presets.py; a catalogue's `preset.<name>` table holds its translation of each one. So are the
update rules' words, inside their LaTeX's \\text{...} and in their references (`latex_words`, the
`rule_words` table), and the comments of "Copy as PyTorch" (`code_comments`, the `script` table of
templates). The server-drawn map (plots.contour_figure, where the map component is not
available) gets its words from its traces' meta and the [map] templates, as the component does.

The language lives in session state ("lang"), set from the link's `lang` on a session's first run,
by the sidebar's switch after that, and written back to the link (`lang=zh`; English is the
default and leaves it out). Mathematics (LaTeX outside \\text{}, code) is never translated.
"""

from __future__ import annotations

import functools
import html
import io
import re
import string
import tokenize
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


def phrase(text: str, table: str = "phrases") -> str:
    """English `text` from outside the catalogue (a spec's help, an axis title) in the session's
    language: its entry in the catalogue's `table` (keyed by the English), else the English."""
    if not text or lang() == DEFAULT:
        return text
    return catalogue(lang()).get(table, {}).get(text, text)


_TEXT = re.compile(r"\\text\{([^{}]*)\}")


def latex_words(text: str) -> str:
    """LaTeX written in English (the update rules) with the words of each \\text{...} in the
    session's language, from the catalogue's rule_words table (or its rule_templates, for words
    with numbers in them); the mathematics as written. KaTeX
    draws CJK only in text mode, so translated words stay inside their \\text{}."""
    if lang() == DEFAULT:
        return text

    def one(match: re.Match) -> str:
        words = match.group(1)
        core = words.strip()
        if not core:
            return match.group(0)
        lead, tail = words[:len(words) - len(words.lstrip())], words[len(words.rstrip()):]
        translated = phrase(core, "rule_words")
        if translated == core:  # words with numbers in them (the playback's "converged at step 131")
            translated = template(core, "rule_templates")
        return r"\text{" + lead + translated + tail + "}"

    return _TEXT.sub(one, text)


@functools.cache
def _templates(lang: str, table: str) -> tuple[tuple[re.Pattern, str], ...]:
    """(pattern of the English, translation) of each entry of a templates table: an English key's
    `{}` stands for any text, the translation's `{0}`, `{1}`, ... for those texts in order."""
    out = []
    for english, translated in catalogue(lang).get(table, {}).items():
        parts = re.split(r"(\{\})", english)
        out.append((re.compile("".join("(.+?)" if part == "{}" else re.escape(part) for part in parts)), translated))
    return tuple(out)


def template(text: str, table: str) -> str:
    """English `text` in the session's language by the first entry of the catalogue's templates
    `table` it matches whole, the texts its `{}` stood for translated as phrases (a surface's
    title), left as they are otherwise (a label, a number); no match: the English."""
    if lang() == DEFAULT:
        return text
    for pattern, translated in _templates(lang(), table):
        match = pattern.fullmatch(text)
        if match:
            return translated.format(*(phrase(group) for group in match.groups()))
    return text


def code_comments(source: str) -> str:
    """Python `source` with its comments and one-line docstrings in the session's language (the
    catalogue's script table, see template); every other token exactly as written."""
    if lang() == DEFAULT:
        return source
    lines = source.split("\n")
    edits = []  # (row, start col, end col, new text), applied right to left within a line
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        (row, col), (end_row, end_col) = tok.start, tok.end
        if tok.type == tokenize.COMMENT:
            words = tok.string[1:].strip()
            edits.append((row, col, end_col, "# " + template(words, "script")))
        elif tok.type == tokenize.STRING and row == end_row and tok.string.startswith('"""'):
            edits.append((row, col, end_col, '"""' + template(tok.string[3:-3], "script") + '"""'))
    for row, col, end_col, text in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + text + line[end_col:]
    return "\n".join(lines)


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
    if any(isinstance(trace, dict) and (trace.get("meta") or {}).get("role") == "click" for trace in data):
        data, layout = _map_words(data, layout)
    return {**fig, "data": data, "layout": layout}


# --- the server-drawn map (plots.contour_figure, where the map component is not available) -------
# Its words are composed here from the traces' meta with the [map] templates, as the component
# composes them in the browser (ui/map_component.js legendName, hoverWords, exitLabels); the arrows'
# hovers and the arrow key carry their numbers in their English only (plots/internals.py).

_ARROW_HOVER = re.compile(r"(?P<name>.*<br>)(?P<kind>.+) at step (?P<step>\d+): (?P<vector>\(.*?\))"
                          r"<br>arrow rescaled ×(?P<scale>\S+) to fit the map(?P<extra><extra></extra>)")
_ARROW_KEY = re.compile(r"<b>arrows at step (?P<step>\d+)</b>, rescaled to fit the map:(?P<items>(<br>.*)*)")
_ARROW_ITEM = re.compile(r"(?P<glyph>\S+) (?P<kind>.+) (?P<scale>×\S+)")


def _legend_name(meta: dict, labels: dict) -> str:
    """A configuration's legend entry: its label, its fate and the path it is drawn along."""
    name, fate = meta["label"], meta.get("fate") or {}
    if fate.get("kind") == "diverged":
        name += " — " + t("map.fate_diverged", step=fate["step"]) + (t("map.fate_some", **fate) if fate["starts"] > 1 else "")
    elif fate.get("kind") == "converged":
        name += " — " + t("map.fate_converged", step=fate["step"]) + (t("map.fate_all", **fate) if fate["starts"] > 1 else "")
    if meta.get("same_as") is not None:
        name += " — " + t("map.same_path", label=labels[meta["same_as"]])
    return name


def _diverged_words(trace: dict, bold: str) -> dict:
    """A diverged trace's exit labels (beside its arrows) and hovers."""
    from plots.contour import short_number  # the figure's own rounding of the exit point

    meta = trace["meta"]
    symbols = trace["marker"]["symbol"]
    symbols = symbols if isinstance(symbols, list) else [symbols] * len(meta["steps"])
    text, hover = [], []
    for step, (x, y), out, at, symbol in zip(meta["steps"], meta["last"], meta["outside"], meta["diverged_at"], symbols):
        scale = max(abs(x), abs(y))
        text.append(t("map.exit", step=step, x=short_number(x, scale), y=short_number(y, scale)) if symbol == "arrow" else "")
        hover.append(bold + t("map.hover_diverged", step=at) + "<br>" + t("map.hover_last", step=step, x=f"{x:.4g}", y=f"{y:.4g}")
                     + ("<br>" + t("map.hover_outside") if out else ""))
    return {**trace, "text": text, "hovertext": hover}


def _map_trace(trace: dict, labels: dict, legends: dict) -> dict:
    """One trace of the map with its name, hover and labels in the session's language."""
    meta = trace.get("meta") or {}
    role, k = meta.get("role"), meta.get("config")
    label = labels.get(k, "")
    bold = f"<b>{html.escape(label)}</b><br>"
    if role == "surface":
        return {**trace, "name": t("map_fallback.surface")}
    if role == "click":
        return {**trace, "name": t("map_fallback.click_grid"), "hovertemplate": trace["hovertemplate"].replace(
            "click: start here", t("map_fallback.click_here"))}
    if role in ("path", "end") and k not in legends:  # no label to compose from: as built
        return trace
    if role == "path":
        trace = {**trace, "name": _legend_name(legends[k], labels)}
        return {**trace, "hovertemplate": bold + t("map.hover_step")} if trace.get("hovertemplate") else trace
    if role == "end":
        name = _legend_name(legends[k], labels) if trace.get("showlegend") else t("map_fallback.end", label=label)
        return {**trace, "name": name, "hovertemplate": bold + t("map.hover_end")}
    if role == "start":
        return {**trace, "hovertemplate": t("map.hover_start")}
    if role == "density":
        return {**trace, "name": t("map_fallback.end_points", label=label), "hovertemplate": bold + t("map.hover_density")}
    if role == "diverged":
        return {**_diverged_words(trace, bold), "name": t("map_fallback.diverged", label=label)}
    if role in ("minimum", "saddle"):
        return {**trace, "hovertemplate": f"{html.escape(trace['name'])} (%{{x:.4g}}, %{{y:.4g}})<extra></extra>"}
    if role == "playback":
        step = int(trace["name"].rsplit(" ", 1)[1])
        return {**trace, "name": t("map_fallback.at_step", label=label, step=step),
                "hovertemplate": bold + t("map_fallback.step", step=step)
                + "(%{x:.4g}, %{y:.4g})<br>f = %{customdata:.4g}<extra></extra>"}
    if role == "evals":
        step, count = int(trace["name"].rsplit(" ", 1)[1]), len(trace["x"])
        return {**trace, "name": t("map_fallback.evals", label=label, step=step),
                "hovertemplate": bold + t("map_fallback.evaluation", step=step, i="%{customdata}", count=count)
                + ": (%{x:.4g}, %{y:.4g})<extra></extra>"}
    if role == "arrow":
        kind = trace["name"][len(label) + 1:]
        trace = {**trace, "name": f"{label} {phrase(kind)}"}
        hover = _ARROW_HOVER.fullmatch(trace.get("hovertemplate", ""))
        if hover:
            trace["hovertemplate"] = (hover["name"] + t("map_fallback.arrow_hover", kind=phrase(hover["kind"]),
                                                         step=hover["step"], vector=hover["vector"],
                                                         scale=hover["scale"]) + hover["extra"])
        return trace
    return trace


def _arrow_key(annotation: dict) -> dict:
    """The map's arrow key (plots.internals.arrow_key) in the session's language."""
    key = _ARROW_KEY.fullmatch(annotation.get("text", ""))
    if not key:
        return annotation
    items = [_ARROW_ITEM.fullmatch(item) for item in key["items"].split("<br>")[1:]]
    lines = [f"{i['glyph']} {phrase(i['kind'])} {i['scale']}" if i else "" for i in items]
    return {**annotation, "text": "<br>".join([t("map_fallback.arrow_key", step=key["step"]), *lines])}


def _map_words(data: list, layout: dict) -> tuple[list, dict]:
    legends = {m["config"]: m for tr in data if isinstance(tr, dict)
               for m in [tr.get("meta") or {}] if "label" in m and m.get("role") in ("path", "end")}
    labels = {k: m["label"] for k, m in legends.items()}
    data = [_map_trace(tr, labels, legends) if isinstance(tr, dict) else tr for tr in data]
    if layout.get("annotations"):
        layout = {**layout, "annotations": [_arrow_key(a) for a in layout["annotations"]]}
    return data, layout


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
