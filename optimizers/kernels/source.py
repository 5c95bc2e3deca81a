"""The one writer of generated kernel source: indentation by blocks, literals typed per dtype.

    src = Source()
    with src.block("def f(x)"):
        src.code(traced_lines, literal=LITERALS["float32"])
        src.line("return v3")
    text = src.text()

Traced lines (kernels.tracer.Line) keep their number operands as Python floats; `code` renders
them through a literal function, so one trace gives float64 code (`0.9`) or float32 code
(`np.float32(0.9)`, as a Python float meeting a float32 array stays float32 in NumPy).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from .tracer import Line, float64_literal

Literal = Callable[[float], str]


def float32_literal(x) -> str:
    """A Python number as a float32 literal of generated code."""
    return f"np.float32({float64_literal(x)})"


LITERALS: dict[str, Literal] = {"float64": float64_literal, "float32": float32_literal}


class Source:
    """Python source built line by line; `block` indents, empty blocks get `pass`."""

    INDENT = "    "

    def __init__(self):
        self._lines: list[str] = []
        self._depth = 0

    def line(self, text: str = "") -> None:
        self._lines.append(self.INDENT * self._depth + text if text else "")

    def lines(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.line(text)

    def code(self, traced: Iterable[Line], literal: Literal = float64_literal) -> None:
        """Traced assignments, their number operands rendered by `literal`."""
        self.lines(line.render(literal) for line in traced)

    @contextlib.contextmanager
    def block(self, header: str):
        """`header:` followed by the lines written inside the `with`, one level deeper."""
        self.line(f"{header}:")
        self._depth += 1
        start = len(self._lines)
        try:
            yield self
        finally:
            if len(self._lines) == start:
                self.line("pass")
            self._depth -= 1

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def module_header(doc: str, imports: Iterable[str] = ()) -> Source:
    """A generated module's docstring and imports: math, numpy, numba's njit, then `imports`."""
    src = Source()
    src.line(f'"""{doc}"""')
    src.lines(["import math", "", "import numpy as np", "from numba import njit"])
    src.lines(imports)
    src.line()
    return src

