"""Optimizer visualizer: `streamlit run app.py`. Page setup and navigation only."""

import streamlit as st

from ui import memory, mnist_page, online_page, surfaces_page

memory.tune_allocator()

st.set_page_config(page_title="Optimizer visualizer", page_icon=":material/insights:", layout="wide")
st.navigation([
    # Function pages: their modules are imported once, not recompiled on every rerun.
    st.Page(surfaces_page.main, title="2-D surfaces", icon=":material/map:", url_path="surfaces", default=True),
    # url_path: the address it had as the file page ui/mnist_page.py, so links keep working
    st.Page(mnist_page.main, title="MNIST", icon=":material/grid_on:", url_path="mnist_page"),
    st.Page(online_page.main, title="Online: Adam vs AMSGrad", icon=":material/swap_vert:", url_path="online"),
]).run()
