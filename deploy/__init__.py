"""Serving the app to a classroom: several Streamlit processes behind nginx (lecture_hall.py)."""
