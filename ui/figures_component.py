"""A row of the page's Plotly figures drawn in the browser with the map component's Plotly.js.

st.plotly_chart brings Streamlit's own Plotly bundle, which the browser loads and compiles on a
new session beside the copy the map component uses: on the 2-D page's opening view that second
copy was what delayed the map (tests and bench/browser_latency's first view). The figures go out
as built (ui.charts.prepared: the session's language, presentation mode, typed arrays) in a file
the browser fetches once per id (ui/static_files; inline where it cannot be written), and the
browser draws them again only when their id changes: a rerun sends the id and the file's URL.
Where the browser cannot fetch the file (pruned, or a restarted server's), it says so (the
"missing" trigger) and the next run sends those figures inline.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from . import assets, static_files, widgets
from .charts import prepared

HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "optvis_figures",
    js=static_files.module_stub("figures_component",
                                static_files.with_data_files(assets.with_page_run(assets.component_js(HERE / "figures_component.js")))),
    css=".fg-row { display: grid; gap: 0.6rem; } .fg-fig { min-width: 0; }",
    isolate_styles=False,  # Plotly's hover and mode-bar styles live in the document's head
)


def figures_row(figures: list[dict], *, key: str, identity: object) -> None:
    """Draw `figures` (figure dicts of plots/) side by side; identity: what they were built from
    (any repr-stable value, e.g. the run's config), so the browser redraws only when it changes."""
    shown = [prepared(fig) for fig in figures]
    tag = hashlib.sha256(repr((identity, [f["layout"] for f in shown])).encode()).hexdigest()[:16]
    inline = st.session_state.pop(f"{key}.inline", None) == tag or bool(st.session_state.get(static_files.INLINE_ALL))
    url = None if inline else static_files.publish(f"figures-{tag}", lambda: {"figures": shown})
    _COMPONENT(key=key, data={"id": tag, "url": url} if url else {"id": tag, "figures": shown},
               on_missing_change=lambda: _on_missing(key))


@widgets.callback
def _on_missing(key: str) -> None:
    """The browser could not fetch the figures' file: the next run sends them inline."""
    missing = (st.session_state.get(key) or {}).get("missing")
    if missing:
        st.session_state[f"{key}.inline"] = str(missing)
        st.session_state[static_files.INLINE_ALL] = True
