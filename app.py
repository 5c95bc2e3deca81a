"""Optimizer visualizer: `streamlit run app.py`. Page setup and navigation only."""

import streamlit as st

from ui import i18n, memory, mnist_page, online_page, surfaces_page
from ui.i18n import t

memory.tune_allocator()

i18n.start()
st.set_page_config(page_title=t("app.title"), page_icon=":material/insights:", layout="wide")
i18n.switch()  # in the sidebar, under the pages: one click, kept in the link (lang=zh)
st.navigation([
    # Function pages: their modules are imported once, not recompiled on every rerun.
    st.Page(surfaces_page.main, title=t("page.surfaces"), icon=":material/map:", url_path="surfaces", default=True),
    # url_path: the address it had as the file page ui/mnist_page.py, so links keep working
    st.Page(mnist_page.main, title=t("page.mnist"), icon=":material/grid_on:", url_path="mnist_page"),
    st.Page(online_page.main, title=t("page.online"), icon=":material/swap_vert:", url_path="online"),
]).run()
