"""Colours and shared styling of every figure: one colour per optimizer configuration.

The configuration colours are the Okabe-Ito palette (distinguishable with the common forms of
colour blindness) without its yellow, which vanishes on the light contour background, followed
by two of Paul Tol's muted colours; they cycle past eight configurations. Red is kept for the
divergence marker, black and gold for the start points and minima.
"""

from __future__ import annotations

PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#332288",  # indigo
    "#999933",  # olive
)

DIVERGED = "#E4002B"  # the X at the last finite point of a diverged trajectory
MINIMUM = "#FFD21F"  # star fill, with a dark outline
SADDLE = "#FFFFFF"  # diamond fill, with a dark outline
OUTLINE = "#1A1A1A"
# Light, nearly neutral ramp (low loss white, high loss mid grey-blue): every path colour and the
# markers keep their contrast on it, and the valley floors read as the lightest regions.
COLORSCALE = (
    (0.0, "#FFFFFF"),
    (0.35, "#F0F2F4"),
    (0.65, "#DCE0E5"),
    (0.85, "#C6CDD4"),
    (1.0, "#AFB8C1"),
)
FONT = {"size": 14}


def color(k: int) -> str:
    """The colour of configuration k (cycling): a '#RRGGBB' string."""
    return PALETTE[k % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    """'#RRGGBB' with an alpha channel, as a CSS rgba() string."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:g})"
