"""The interface in English and Simplified Chinese (ui/i18n.py, ui/locales/*.toml).

The catalogues have the same keys and the same fields; every key the code looks up exists; the
translated texts from outside the catalogue (spec help, surface and schedule names) are all
there; each translated preset story states the same numbers as the English one, which
tests/test_presets.py checks against the runs; the app runs in Chinese and the switch keeps the
language in the link.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from optimizers import OPTIMIZERS, SCHEDULES
from optimizers.transforms import L1_SPECS
from surfaces import SURFACES
from tests.test_app import results_figures
from ui import i18n, mnist_page, online_page, state, static_files
from ui.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TRANSLATED_ONLY = ("phrases", "preset", "rule_words", "rule_templates", "script")  # tables a translation adds to the English written in the code
# Keys the code builds from a value: the values it can take.
DYNAMIC_KEYS = {"mnist.{}": ("mnist.epochs", "mnist.steps")}
# Fields a translation may use that the English does not: "every 3rd step" is "每 3 步" in Chinese.
EXTRA_FIELDS = {"surfaces.every_kth": {"n:"}, "surfaces.stride_caption": {"n:"}}
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+")
CJK = re.compile(r"[\u4e00-\u9fff]")


def entries(lang: str) -> dict[str, str]:
    table = {k: v for k, v in i18n.catalogue(lang).items() if k not in TRANSLATED_ONLY}
    return i18n.flat(table)


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGS if lang != i18n.DEFAULT])
def test_catalogues_have_the_same_keys_and_fields(lang):
    en, other = entries(i18n.DEFAULT), entries(lang)
    assert set(en) == set(other), {"missing": sorted(set(en) - set(other)), "extra": sorted(set(other) - set(en))}
    for key, text in en.items():
        fields, translated = i18n.placeholders(text), i18n.placeholders(other[key])
        # every English field is filled in the translation too, with the same format spec
        assert translated - EXTRA_FIELDS.get(key, set()) <= fields, (key, translated - fields)
        names = {f.split(":")[0] for f in translated}
        assert {f for f in fields if f.split(":")[0] in names} <= translated, (key, fields, translated)
        assert not CJK.search(text), f"{key}: Chinese in the English catalogue"
    assert sum(bool(CJK.search(v)) for v in other.values()) > 0.9 * len(other), "most entries are translated"


def _used_keys() -> tuple[set[str], set[str]]:
    """(constant keys, dynamic key patterns) of every t(...) call in app.py and ui/."""
    keys, patterns = set(), set()
    for path in [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name != "t":
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                keys.add(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                patterns.add("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in arg.values))
            else:
                raise AssertionError(f"{path.name}:{node.lineno}: t() with a key that is no literal")
    return keys, patterns


def test_every_key_the_code_uses_exists():
    keys, patterns = _used_keys()
    assert len(keys) > 100
    assert patterns <= set(DYNAMIC_KEYS), patterns - set(DYNAMIC_KEYS)
    for pattern in patterns:
        keys.update(DYNAMIC_KEYS[pattern])
    for lang in i18n.LANGS:
        missing = keys - set(entries(lang))
        assert not missing, (lang, sorted(missing))
    unused = set(entries(i18n.DEFAULT)) - keys
    assert not unused, f"catalogue keys no code uses: {sorted(unused)}"


def _texts_from_code() -> set[str]:
    """The English the code writes outside the catalogue and shows through i18n.phrase."""
    specs = [s for o in (*OPTIMIZERS.values(), *SCHEDULES.values(), *SURFACES.values()) for s in o.specs]
    specs += [*state.RUN_SPECS.values(), state.START_SPEC, *mnist_page.SPECS.values(), *online_page.SPECS.values()]
    specs += list(L1_SPECS)
    texts = {s.help for s in specs if s.help}
    texts |= {s.title for s in SURFACES.values()} | {s.description for s in SURFACES.values()}
    texts |= {s.title for s in SCHEDULES.values()}
    return texts


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGS if lang != i18n.DEFAULT])
def test_every_help_line_and_surface_and_schedule_name_is_translated(lang):
    phrases = i18n.catalogue(lang)["phrases"]
    missing = _texts_from_code() - set(phrases)
    assert not missing, sorted(missing)
    for english, translated in phrases.items():
        cardinal = re.sub(r"\d+(st|nd|rd|th)\b", "", english)  # "1st moment" is 一阶矩
        assert translated and set(NUMBER.findall(cardinal)) == set(NUMBER.findall(translated)), (english, translated)


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGS if lang != i18n.DEFAULT])
@pytest.mark.parametrize("name", list(PRESETS))
def test_translated_story_states_the_numbers_of_the_checked_one(lang, name):
    """The English story's numbers are its claims' (tests/test_presets.py runs them): the
    translation states exactly the same numbers, its {0}, {1}, ... filled with the claims' words."""
    p = PRESETS[name]
    entry = i18n.catalogue(lang)["preset"][name]
    assert set(entry) == {"title", "story"}
    story = entry["story"].format(*(c.text for c in p.claims))
    assert set(NUMBER.findall(story)) == set(NUMBER.findall(p.story)), (
        set(NUMBER.findall(story)) ^ set(NUMBER.findall(p.story)))
    assert set(NUMBER.findall(entry["title"])) == set(NUMBER.findall(p.title))
    assert CJK.search(story) and CJK.search(entry["title"])
    assert set(i18n.catalogue(lang)["preset"]) == set(PRESETS)


# --- the app in Chinese ---------------------------------------------------------------------------


def page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def params(at: AppTest) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}


def test_a_link_with_lang_zh_opens_in_chinese():
    at = ok(page({"lang": "zh", "preset": "saddle", **state.encode(PRESETS["saddle"].config)}))
    sidebar = at.sidebar
    assert at.segmented_control(key="lang").value == "zh"
    assert sidebar.selectbox(key="preset").label == "教学预设"
    assert sidebar.selectbox(key="surface").label == "曲面"
    assert [s.value for s in sidebar.subheader][:4] == ["曲面", "优化器", "起点", "运行"]
    assert any(b.label == "添加优化器" for b in sidebar.button)
    assert at.title[0].value == "二维曲面上的优化器"
    story = i18n.catalogue("zh")["preset"]["saddle"]
    assert any(story["title"] in i.value and "348.8" in i.value for i in at.info), [i.value for i in at.info]
    assert "鞍点" in " ".join(c.value for c in at.caption)  # the surface's description
    assert not at.warning, [w.value for w in at.warning]  # lang is no unknown link parameter
    assert params(at)["lang"] == ["zh"]
    assert "教科书结论：逃离鞍点" in [s.value for s in at.subheader]  # the theory panel
    assert any(e.label == "**哪些设置有效：收敛域图与参数扫描**" for e in at.expander)  # the sweeps
    assert any(b.label == "加入梯度噪声 σ = 0.01（扰动梯度下降）" for b in at.button)
    (element,) = [e for e in at.get("bidi_component") if e.proto.component_name == "optvis_map"]
    proto = element.proto
    data = static_files.resolved(json.loads(proto.json if proto.WhichOneof("data") == "json" else proto.mixed.json))
    assert data["id"].endswith("-zh")  # its own id: the browser redraws the map on a switch
    assert "鞍点" in [t.get("name") for t in data["map"]["data"]]  # the saddle's legend entry
    assert data["eff"]["layout"]["yaxis"]["title"]["text"] == "有效 lr，x"
    assert [k["text"] for k in data["arrow_kinds"]] == ["−梯度", "−一阶矩", "更新量 Δθ"]
    sliders = [json.loads(e.proto.json) for e in at.get("bidi_component") if e.proto.component_name == "optvis_live_slider"]
    helps = " ".join([*(w.help or "" for w in [*at.sidebar.number_input, *at.sidebar.select_slider]),
                      *(d["help"] for d in sliders)])
    assert "允许范围" in helps and "学习率" in helps


def test_the_switch_round_trips_through_the_link_and_keeps_the_settings():
    at = ok(page())
    assert "lang" not in params(at)
    assert at.sidebar.selectbox(key="preset").label == "Teacher presets"
    at.selectbox(key="surface").set_value("himmelblau")
    ok(at.run())
    at.number_input(key="steps").set_value(321)
    at.number_input(key="opt0.sgd.lr").set_value(0.02)
    at.segmented_control(key="start.mode").set_value("swarm")
    ok(at.run())
    before = params(at)
    at.segmented_control(key="lang").set_value("zh")
    ok(at.run())
    assert params(at) == {**before, "lang": ["zh"]}  # switching keeps every setting
    assert at.sidebar.selectbox(key="preset").label == "教学预设"
    assert at.selectbox(key="surface").value == "himmelblau"
    assert at.number_input(key="steps").value == 321
    assert at.number_input(key="opt0.sgd.lr").value == 0.02
    ok(at.run())  # a rerun keeps the language
    assert at.sidebar.selectbox(key="preset").label == "教学预设"
    at.segmented_control(key="lang").set_value("en")
    ok(at.run())
    assert params(at) == before
    assert at.sidebar.selectbox(key="preset").label == "Teacher presets"


def test_a_crafted_language_falls_back_to_english():
    at = ok(page({"lang": "xx"}))
    assert at.sidebar.selectbox(key="preset").label == "Teacher presets"
    assert "lang" not in params(at)


def test_the_results_charts_axis_titles_and_errors_are_translated():
    at = ok(page({"lang": "zh", "surface": "quadratic", "opt": ["sgd~lr:0.1", "sgd~lr:0.1"], "start": "1,1"}))
    at.checkbox(key="opt1.sgd.nesterov").check()  # Nesterov without momentum: the panel is invalid
    ok(at.run())
    layouts = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")] + [f["layout"] for f in results_figures(at)]
    titles = {layout["yaxis"]["title"]["text"] for layout in layouts}
    assert "梯度范数 ‖∇f(θ)‖" in titles, titles
    assert any("结果" in d.value.columns for d in at.dataframe)  # the results table's columns
    errors = [e.value for e in at.error]
    assert any(e.startswith("优化器 2：") and "已被排除" in e for e in errors), errors


def test_the_mnist_page_renders_in_chinese():
    at = ok(page({"lang": "zh"}))
    at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("page_name") == "MNIST")
    ok(at.run())
    assert at.title[0].value == "MNIST：在真实网络上并排比较优化器"
    assert any(b.label == "训练" for b in at.button)
    assert any(e.label.startswith("稳定性边缘") for e in at.expander)  # the edge-of-stability section
    assert any(e.label.startswith("学习率扫描") for e in at.expander)  # the lr sweep
    assert at.segmented_control(key="lang").value == "zh"


def test_the_sweeps_run_in_chinese():
    at = ok(page({"lang": "zh", "surface": "quadratic", "opt": ["sgd~lr:0.1~momentum:0.5"], "start": "1,1",
                  "steps": "100"}))
    at.toggle(key="sweeps.lr.on").set_value(True)
    at.toggle(key="sweeps.grid.on").set_value(True)
    ok(at.run())
    captions = " ".join(c.value for c in at.caption)
    assert "星号：各优化器的最佳学习率" in captions and "设置" in captions, captions
    assert any("最佳学习率" in d.value.columns for d in at.dataframe)


def test_the_online_page_renders_in_chinese():
    at = ok(page({"lang": "zh"}))
    at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("page_name") == "在线学习：Adam 与 AMSGrad")
    ok(at.run())
    assert at.title[0].value == "在线学习：Adam 与 AMSGrad"
    assert [s.value for s in at.sidebar.subheader][:2] == ["问题", "论文中的优化器"]
    assert "定理 1" in " ".join(m.value for m in at.markdown)
