"""The Streamlit pages and their helpers: widgets -> RunConfig -> cached compute -> plots/ figures."""
