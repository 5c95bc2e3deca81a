"""Optimizer visualizer: `streamlit run app.py`. Page setup and navigation only."""

import streamlit as st

from ui import surfaces_page

st.set_page_config(page_title="Optimizer visualizer", page_icon=":material/insights:", layout="wide")
st.navigation([
    # A function page: its module is imported once, not recompiled on every rerun.
    st.Page(surfaces_page.main, title="2-D surfaces", icon=":material/map:", url_path="surfaces", default=True),
    st.Page("ui/mnist_page.py", title="MNIST", icon=":material/grid_on:"),
]).run()
