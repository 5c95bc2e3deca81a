"""Hyperparameter specs: one source of truth for defaults, validation, UI widgets and code export.

Every optimizer, schedule and surface declares its parameters as a tuple of `Hyperparameter`.
This module sits at the top level, importing nothing of the project, so that `optimizers/`
and `surfaces/` share it without the 2-D surfaces depending on the engine.
`validate` turns user keyword arguments into a complete, checked dict, raising `ValueError`
that names the owner, the parameter, the offending value and the allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Kind = str  # "float" | "int" | "bool" | "pair" | "choice" | "ints" | "text"
MAX_INTS = 32  # most entries of an "ints" parameter (a scheduler's milestones)


@dataclass(frozen=True)
class Hyperparameter:
    """One named parameter with its default and allowed range.

    name: keyword used by the API (torch.optim's name where torch has one).
    default: value used when the caller gives none.
    low, high: allowed closed/open interval for numbers (each element for "pair").
    low_open, high_open: whether the bound itself is excluded.
    log: the UI shows a log-scale slider (learning rates, eps).
    kind: "float", "int", "bool", "pair" (two floats, e.g. betas; as many as
    its default has: Muon's three ns_coefficients), "choice", "ints" (1 to
    MAX_INTS strictly increasing whole numbers, each in the range: a scheduler's milestones) or
    "text" (a string, checked further by its owner: a custom surface's formula).
    choices: allowed values for kind "choice".
    ui_low, ui_high: slider range in the UI when narrower than the allowed range.
    help: one line shown as the widget's tooltip.
    A number whose default is None also takes None (torch's "derived from the others", as
    LBFGS's max_eval).
    """

    name: str
    default: Any
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    log: bool = False
    kind: Kind = "float"
    choices: tuple = ()
    ui_low: float | None = None
    ui_high: float | None = None
    help: str = ""

    def range_text(self) -> str:
        """The allowed range in interval notation, e.g. '[0, 1)'."""
        if self.kind == "bool":
            return "{True, False}"
        if self.kind == "choice":
            return "{" + ", ".join(repr(c) for c in self.choices) + "}"
        if self.kind == "text":
            return "text"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        optional = " or None" if self.default is None else ""
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}{optional}"

    def check(self, value: Any, owner: str) -> Any:
        """Return `value` converted to this parameter's kind, or raise ValueError."""
        where = f"{owner}: {self.name}"
        if self.kind == "bool":
            if not isinstance(value, (bool, int, _np_bool())) or value not in (0, 1):
                raise ValueError(f"{where}={value!r} must be a bool, allowed {self.range_text()}")
            return bool(value)
        if self.kind == "text":
            if not isinstance(value, str):
                raise ValueError(f"{where}={value!r} must be a string")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{where}={value!r} is not allowed; allowed {self.range_text()}")
            return value
        if self.kind == "pair":
            try:
                if isinstance(value, (str, bytes, dict, set, frozenset)):
                    raise TypeError  # not an ordered pair of numbers
                pair = tuple(value)
            except TypeError:
                raise ValueError(f"{where}={value!r} must be {self._count()}, each in {self.range_text()}") from None
            if len(pair) != len(self.default):
                raise ValueError(f"{where}={value!r} must be {self._count()}, each in {self.range_text()}")
            return tuple(self._check_number(v, f"{where}[{i}]") for i, v in enumerate(pair))
        if self.kind == "ints":
            return self._check_ints(value, where)
        if value is None and self.default is None:
            return None
        number = self._check_number(value, where)
        if self.kind == "int":
            if number != int(number):
                raise ValueError(f"{where}={value!r} must be a whole number in {self.range_text()}")
            return int(number)
        return number

    def _count(self) -> str:
        """What a "pair" parameter takes: "a pair of numbers", or "3 numbers" (Muon's ns_coefficients)."""
        return "a pair of numbers" if len(self.default) == 2 else f"{len(self.default)} numbers"

    def _check_ints(self, value: Any, where: str) -> tuple[int, ...]:
        rule = f"must be 1 to {MAX_INTS} strictly increasing whole numbers, each in {self.range_text()}"
        if isinstance(value, (str, bytes, dict, set, frozenset)):
            raise ValueError(f"{where}={value!r} {rule}")
        try:
            items = tuple(value)
        except TypeError:
            raise ValueError(f"{where}={value!r} {rule}") from None
        if not 1 <= len(items) <= MAX_INTS:
            raise ValueError(f"{where}={value!r} {rule}")
        numbers = tuple(self._check_number(v, f"{where}[{i}]") for i, v in enumerate(items))
        if any(n != int(n) for n in numbers) or any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise ValueError(f"{where}={value!r} {rule}")
        return tuple(int(n) for n in numbers)

    def _check_number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not _is_real_scalar(value):
            raise ValueError(f"{where}={value!r} must be a number in {self.range_text()}")
        try:
            number = float(value)
        except OverflowError:  # an int beyond float64
            number = math.inf if value > 0 else -math.inf
        too_low = number < self.low or (self.low_open and number == self.low)
        too_high = number > self.high or (self.high_open and number == self.high)
        if math.isnan(number) or too_low or too_high:
            raise ValueError(f"{where}={value!r} is outside the allowed range {self.range_text()}")
        return number


def validate(owner: str, specs: Iterable[Hyperparameter], given: dict[str, Any]) -> dict[str, Any]:
    """Complete `given` with defaults and check every value against its spec.

    Unknown keywords raise ValueError listing the valid names.
    Returns a new dict in spec order.
    """
    specs = tuple(specs)
    names = [s.name for s in specs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        valid = ", ".join(names) if names else "(none)"
        raise ValueError(f"{owner}: unknown parameter(s) {', '.join(unknown)}; valid: {valid}")
    return {s.name: s.check(given.get(s.name, s.default), owner) for s in specs}


def _is_real_scalar(value: Any) -> bool:
    """NumPy integer and floating scalars (and 0-d arrays of them) count as numbers, as the Python
    values they stand for; NumPy bools, time deltas and dates do not (as Python's bool does not)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return isinstance(value, (np.integer, np.floating)) and not isinstance(value, np.timedelta64)


def _np_bool() -> type:
    """numpy.bool_ (a bool flag given as a NumPy scalar), or bool when NumPy is missing."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return bool
    return np.bool_


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"
