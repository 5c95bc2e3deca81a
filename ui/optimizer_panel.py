"""The sidebar's optimizer panels, one implementation for every page.

A page keeps its panels in an `OptimizerPanels`, which names where they live in session state:
the list of panel ids under `namespace + "panels"`, the next id under `namespace + "next_panel"`,
each panel's values (optimizer, hyperparameters, L1 penalty, schedule) under `f"{values}{pid}."` and its
buttons and expander under `f"{namespace}opt{pid}."`. On the 2-D page both are "opt{pid}.";
the MNIST page keeps the values under its saved widget prefix and the buttons out of it
(a button's state cannot be written back).

Reading and drawing are separate, so a page can build its run from what the panels hold before
it draws them (`config`, from session state), and draw them later (`draw`, `sidebar`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from optimizers import OPTIMIZERS, SCHEDULES, OptimizerConfig, get_optimizer
from optimizers.info import L1_SYMBOL
from optimizers.info import l1_latex as l1_term
from optimizers.transforms import L1_SPECS

from .i18n import latex_words, t, titles
from .widgets import callback, known_choice, put, spec_input, spec_value

MAX_PANELS = 12  # optimizer panels per page: each is a block of widgets on every rerun
CONTROLS = ("expander", "dup", "remove")  # a panel's keys that hold no value to copy
LEFT_OUT = "#BBBBBB"  # the stripe of a panel whose settings are invalid (it is left out of the run)
# A schedule made of other schedules (sequential) has no widgets; its ready-made chain (warmup_cosine) has.
# One driven by the validation loss (ReduceLROnPlateau) is offered where there is one: METRIC_SCHEDULES.
PANEL_SCHEDULES = [name for name, info in SCHEDULES.items() if not info.children and not info.metric]
METRIC_SCHEDULES = [name for name, info in SCHEDULES.items() if not info.children]
L1, L1_MODE = L1_SPECS  # every optimizer's L1 penalty (optimizers.transforms)

Preview = Callable[[OptimizerConfig], None]


@dataclass(frozen=True)
class OptimizerPanels:
    """The optimizer panels of one page (see the module docstring for the keys).

    default: what "Add optimizer" adds.
    names: the optimizers a panel offers (the MNIST page leaves out the 2-D-only ones).
    live: the optimizers' sliders report their position while they move (ui/live_slider), for a
        page whose map previews the path at other values; each one's id is its hp_key.
    schedules: the lr schedules it offers (the MNIST page adds ReduceLROnPlateau).
    l1: whether a panel offers the L1 penalty (the 2-D and MNIST pages' runners apply it).
    """

    default: OptimizerConfig
    namespace: str = ""
    values: str = "opt"
    names: tuple[str, ...] = tuple(OPTIMIZERS)
    live: bool = False
    schedules: tuple[str, ...] = tuple(PANEL_SCHEDULES)
    l1: bool = False

    # --- keys ------------------------------------------------------------------------------------

    def key(self, pid: int, field: str) -> str:
        """Panel `pid`'s optimizer name ('name') or schedule name ('schedule')."""
        return f"{self.values}{pid}.{field}"

    def hp_key(self, pid: int, optimizer: str, param: str) -> str:
        """Per optimizer name, so switching the optimizer of a panel never reuses a mismatched value."""
        return self.key(pid, f"{optimizer}.{param}")

    def sched_key(self, pid: int, schedule: str, param: str) -> str:
        return self.key(pid, f"sched.{schedule}.{param}")

    def control_key(self, pid: int, control: str) -> str:
        """The key of panel `pid`'s expander or button (one of CONTROLS)."""
        return f"{self.namespace}opt{pid}.{control}"

    # --- the list of panels ------------------------------------------------------------------------

    @property
    def ids(self) -> list[int]:
        """The panel ids in page order ([] before the first `add`)."""
        return list(st.session_state.get(self.namespace + "panels", []))

    def _set_ids(self, pids: list[int]) -> None:
        st.session_state[self.namespace + "panels"] = pids

    def started(self) -> bool:
        """Whether this session has set up the page's panels (it may have removed them all since)."""
        return self.namespace + "panels" in st.session_state

    def clear(self) -> None:
        self._set_ids([])

    def full(self) -> bool:
        return len(self.ids) >= MAX_PANELS

    def load(self, pid: int, config: OptimizerConfig) -> None:
        """Set panel `pid`'s widgets to `config`."""
        ss = st.session_state
        ss[self.key(pid, "name")] = config.name
        hp = dict(config.hparams)
        for spec in config.info.specs:
            put(spec, self.hp_key(pid, config.name, spec.name), hp[spec.name])
        if self.l1:
            put(L1, self.key(pid, L1.name), config.l1)
            put(L1_MODE, self.key(pid, L1_MODE.name), config.l1_mode)
        ss[self.key(pid, "schedule")] = config.schedule.name
        params = dict(config.schedule.params)
        for spec in SCHEDULES[config.schedule.name].specs:
            put(spec, self.sched_key(pid, config.schedule.name, spec.name), params[spec.name])

    def add(self, config: OptimizerConfig | None = None) -> int:
        """Append a panel holding `config` (or `default`) and return its id. Also a callback."""
        ss = st.session_state
        counter = self.namespace + "next_panel"
        pid = ss.get(counter, 0)
        ss[counter] = pid + 1
        self._set_ids([*self.ids, pid])
        self.load(pid, config or self.default)
        return pid

    @callback
    def duplicate(self, pid: int) -> None:
        """Callback: a new panel right after `pid` holding exactly its widget values."""
        ss = st.session_state
        new = self.add()
        prefix, new_prefix = self.key(pid, ""), self.key(new, "")
        for key in [k for k in ss if isinstance(k, str) and k.startswith(prefix)]:
            if key[len(prefix):] not in CONTROLS:
                ss[new_prefix + key[len(prefix):]] = ss[key]
        pids = [p for p in self.ids if p != new]
        pids.insert(pids.index(pid) + 1, new)
        self._set_ids(pids)

    @callback
    def remove(self, pid: int) -> None:
        """Callback: panel `pid` leaves the page (its values stay in session state, unused)."""
        self._set_ids([p for p in self.ids if p != pid])

    # --- reading and drawing -----------------------------------------------------------------------

    def config(self, pid: int) -> tuple[OptimizerConfig | None, str]:
        """Panel `pid`'s optimizer as its widgets hold it (session state; before they are drawn):
        (config, "") or (None, error message)."""
        ss = st.session_state
        name = ss.setdefault(self.key(pid, "name"), "adam")
        schedule = ss.setdefault(self.key(pid, "schedule"), "constant")
        hp = {spec.name: spec_value(spec, self.hp_key(pid, name, spec.name)) for spec in OPTIMIZERS[name].specs}
        params = {spec.name: spec_value(spec, self.sched_key(pid, schedule, spec.name))
                  for spec in SCHEDULES[schedule].specs}
        penalty = {spec.name: spec_value(spec, self.key(pid, spec.name)) for spec in L1_SPECS} if self.l1 else {}
        try:
            return get_optimizer(name, schedule=(schedule, params), **penalty, **hp), ""
        except ValueError as exc:
            return None, str(exc)

    def read(self, errors: list[str]) -> list[tuple[int, OptimizerConfig | None, str]]:
        """(pid, config or None, error) of every panel; each invalid one adds a line to `errors`."""
        panels = []
        for i, pid in enumerate(self.ids):
            known_choice(self.key(pid, "name"), OPTIMIZERS, self.default.name, errors, t("panel.optimizer_n", n=i + 1))
            known_choice(self.key(pid, "schedule"), self.schedules, "constant", errors,
                         t("panel.schedule_n", n=i + 1))
            if self.l1:
                known_choice(self.key(pid, L1_MODE.name), L1_MODE.choices, L1_MODE.default, errors,
                             f"Optimizer {i + 1}'s L1 mode")
            config, error = self.config(pid)
            panels.append((pid, config, error))
            if error:
                errors.append(t("panel.left_out", n=i + 1, error=error))
        return panels

    def draw(self, pid: int, index: int, color: str, config: OptimizerConfig | None, error: str,
             preview: Preview | None = None) -> None:
        """Draw panel `pid` (the `index`-th) in an expander, showing self.config(pid) = (config, error).

        color: its colour on the page's figures. preview(config): draws the lr schedule's curve
        (non-constant schedules of valid panels), when given.
        """
        ss = st.session_state
        name_key = self.key(pid, "name")
        title = OPTIMIZERS[ss[name_key]].title
        with st.expander(f"**{index + 1}. {title}**", expanded=index < 2, key=self.control_key(pid, "expander")):
            stripe = st.empty()  # this optimizer's colour on every figure; grey while it is left out
            name = st.selectbox(t("panel.optimizer"), list(self.names), format_func=lambda n: OPTIMIZERS[n].title,
                                key=name_key)
            for spec in OPTIMIZERS[name].specs:
                spec_input(spec, self.hp_key(pid, name, spec.name), live=self.live)
            if self.l1:
                spec_input(L1, self.key(pid, L1.name), label="L1 penalty (l1)", zero=True)
                spec_input(L1_MODE, self.key(pid, L1_MODE.name), label="L1 mode")
                if config is not None and config.l1 > 0:
                    st.latex(latex_words(l1_latex(config.l1, config.l1_mode)))
            schedule = st.selectbox(t("panel.schedule"), list(self.schedules), format_func=titles(SCHEDULES),
                                    key=self.key(pid, "schedule"),
                                    help=t("panel.schedule_help")
                                    + ("" if set(METRIC_SCHEDULES) <= set(self.schedules) else
                                       "; ReduceLROnPlateau is on the MNIST page: it follows a validation loss"))
            for spec in SCHEDULES[schedule].specs:
                spec_input(spec, self.sched_key(pid, schedule, spec.name), live=self.live)
            if error:
                st.error(t("panel.error", error=error), icon=":material/warning:")
            stripe.markdown(f'<div style="height:4px;background:{color if config else LEFT_OUT};'
                            'border-radius:2px"></div>', unsafe_allow_html=True)
            if preview is not None and config is not None and schedule != "constant":
                preview(config)
            left, right, _ = st.columns([1, 1, 3])
            left.button("", key=self.control_key(pid, "dup"), on_click=self.duplicate, args=(pid,),
                        icon=":material/content_copy:", disabled=self.full(),
                        help=t("panel.duplicate"))
            right.button("", key=self.control_key(pid, "remove"), on_click=self.remove, args=(pid,),
                         icon=":material/delete:", help=t("panel.remove"))

    def sidebar(self, panels: list[tuple[int, OptimizerConfig | None, str]], colors: Callable[[int], str],
                preview: Preview | None = None) -> None:
        """Draw `panels` (read's value) and the "Add optimizer" button. The valid panels take
        colors(0), colors(1), ...: the order of the optimizers in the run."""
        valid = 0
        for i, (pid, config, error) in enumerate(panels):
            self.draw(pid, i, colors(valid), config, error, preview)
            valid += config is not None
        full = self.full()
        st.button(t("panel.add"), on_click=callback(self.add), icon=":material/add:", width="stretch", disabled=full,
                  help=t("panel.add_full", n=MAX_PANELS) if full else None)


def l1_latex(l1: float, mode: str) -> str:
    """The L1 penalty's step as implemented (optimizers.transforms), with its strength filled in."""
    mantissa, _, exponent = f"{l1:g}".partition("e")
    value = mantissa + (rf"\times 10^{{{int(exponent)}}}" if exponent else "")
    return rf"{l1_term(mode)},\quad {L1_SYMBOL} = {value}"
