"""MNIST: data loading (data.py), the batched MLP and its loss landscape.

Kept empty on purpose so importing the package stays cheap (no torch, no arrays).
"""
