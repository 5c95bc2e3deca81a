"""Optimizer visualizer: `streamlit run app.py`. Page setup and navigation only."""

import streamlit as st

from ui import favicon, i18n, memory, mnist_page, online_page, state, surfaces_page
from ui.i18n import t

memory.tune_allocator()

# Presentation mode (present=1 in the link): the sidebar collapsed, larger type in every chart
# (ui.charts, the map component) and less chrome; its toggle sits at the top right of every page.
PRESENT_CSS = """<style>
/* In the page flow, so it scrolls away with the page instead of covering what scrolls under it; lifted
   into the top padding (the title stays where it was) and above Streamlit's transparent header, which
   would otherwise take its clicks. */
.st-key-present_toggle {position: relative; z-index: 999991; width: auto !important; align-self: flex-end;
                        margin: -2rem 2rem 0.5rem 0;}
.st-key-present_toggle label p {font-size: 0.9rem;}
.stApp:has(.st-key-present_toggle input:checked) [data-testid="stMain"] :is(p, li) {font-size: 1.15rem;}
.stApp:has(.st-key-present_toggle input:checked) [data-testid="stToolbar"] {display: none;}
</style>"""

i18n.start()
present = state.presenting()
st.set_page_config(page_title=t("app.title"), page_icon=favicon.icon(), layout="wide",
                   initial_sidebar_state="collapsed" if present else "auto")
i18n.switch()  # in the sidebar, under the pages: one click, kept in the link (lang=zh)
with st.container(key="present_toggle"):
    st.toggle(t("page.presentation"), key=state.PRESENT, help=t("page.presentation_help"))
state.write_present()
st.html(PRESENT_CSS)
st.navigation([
    # Function pages: their modules are imported once, not recompiled on every rerun.
    st.Page(surfaces_page.main, title=t("page.surfaces"), icon=":material/map:", url_path="surfaces", default=True),
    # url_path: the address it had as the file page ui/mnist_page.py, so links keep working
    st.Page(mnist_page.main, title=t("page.mnist"), icon=":material/grid_on:", url_path="mnist_page"),
    st.Page(online_page.main, title=t("page.online"), icon=":material/swap_vert:", url_path="online"),
]).run()
