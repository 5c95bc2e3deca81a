"""Array backends: the namespace `xp` the rules run on, and conversions at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BACKENDS = ("numpy", "torch")


@dataclass(frozen=True)
class Backend:
    """An array namespace plus how to move float64 arrays onto and off its device."""

    name: str
    xp: Any
    device: str

    def asarray(self, a) -> Any:
        """float64 array on this backend's device."""
        if self.name == "numpy":
            return np.asarray(a, dtype=np.float64)
        import torch

        return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, device=self.device)

    def empty(self, shape) -> Any:
        if self.name == "numpy":
            return np.empty(shape, dtype=np.float64)
        import torch

        return torch.empty(shape, dtype=torch.float64, device=self.device)

    def to_numpy(self, a) -> np.ndarray:
        if self.name == "numpy":
            return a
        return a.detach().cpu().numpy()


def get_backend(name: str = "numpy", device: str = "cpu") -> Backend:
    """numpy (default) or torch (float64 on `device`: "cpu" or "cuda" where available)."""
    if name not in BACKENDS:
        raise ValueError(f"backend={name!r} is not allowed; allowed {{{', '.join(BACKENDS)}}}")
    if name == "numpy":
        if device != "cpu":
            raise ValueError(f"device={device!r} needs backend='torch'; numpy runs on 'cpu' only")
        return Backend("numpy", np, "cpu")
    import array_api_compat.torch as xpt
    import torch

    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device={device!r} is not allowed; allowed {{'cpu', 'cuda'}}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available on this machine; use 'cpu'")
    return Backend("torch", xpt, str(device))
