"""MNIST: data loading (data.py), the batched MLP (mlp.py), its trainer (train.py) and its loss landscape.

Kept empty on purpose so importing the package stays cheap (no torch, no arrays).
"""
