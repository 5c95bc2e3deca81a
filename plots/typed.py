"""NumPy arrays in Plotly's typed-array form: what figures and the map component's data travel as."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

# NumPy dtype -> plotly.js typed-array dtype
TYPED = {"float64": "f8", "float32": "f4", "int32": "i4", "int16": "i2", "int8": "i1", "uint8": "u1",
         "uint16": "u2", "uint32": "u4"}


def typed_arrays(value: Any) -> Any:
    """`value` with every numeric NumPy array (at any depth of dicts and lists) in Plotly's
    typed-array form {"dtype", "bdata"[, "shape"]}; a copy, the input is left as it is."""
    if isinstance(value, dict):
        return {k: typed_arrays(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed_arrays(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype == np.int64 and value.size and -2**31 <= value.min() and value.max() < 2**31:
            value = value.astype(np.int32)
        dtype = TYPED.get(str(value.dtype))
        if dtype is None or not value.size:
            return value.tolist()
        spec = {"dtype": dtype, "bdata": base64.b64encode(np.ascontiguousarray(value)).decode("ascii")}
        if value.ndim > 1:
            spec["shape"] = ", ".join(map(str, value.shape))
        return spec
    return value
