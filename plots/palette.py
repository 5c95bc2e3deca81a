"""Colours and shared styling of every figure: one colour per optimizer configuration.

The first eight configuration colours were chosen (from Okabe-Ito, Paul Tol's and IBM's
palettes and a 7-level sRGB grid) to stay apart for normal, deuteranopic and protanopic vision
alike: their closest pair is 23 CIEDE2000 units apart for normal vision and 11 under either
deficiency (Machado et al. 2009; the Okabe-Ito set used before: 20.6 and 5.1, with blue and sky
blue, orange and vermillion about 22 apart, too close on a projector). Eight more follow for
larger comparisons, at least 14 apart for normal vision; under a deficiency some of them are
as close as 1.7 to one of the first eight (orange and olive, deuteranopic), so from the ninth
configuration on each block of eight has its own dash pattern (dash): the 9th to 16th are told
from the first eight by their dash, and within a block every two colours stay at least 7.5
apart under either deficiency. Every one keeps its contrast on the light contour ramp and
against the marker colours below; tests/test_palette.py checks all this. Past sixteen the
colours repeat, with a third dash pattern and on, and marker symbols cycle on a period of their
own (symbol), so no two of the engine's 64 configurations look alike. Red is kept for the divergence marker, black and gold for the start points and minima.
"""

from __future__ import annotations

PALETTE = (
    "#0072B2",  # blue
    "#FE6100",  # orange
    "#555555",  # dark grey
    "#CC6677",  # rose
    "#008055",  # green
    "#AA0080",  # magenta
    "#0000FF",  # pure blue
    "#D455FF",  # violet
    "#AAAA00",  # olive
    "#9C755F",  # brown
    "#005555",  # dark teal
    "#8080D4",  # periwinkle
    "#555580",  # slate
    "#AAAA80",  # khaki
    "#805555",  # mauve brown
    "#008080",  # teal
)
DASHES = ("solid", "dash", "dashdot", "longdash", "longdashdot")  # not "dot": the scheduled lr's line
DASH_BLOCK = 8  # configurations per dash pattern
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "triangle-down", "pentagon")  # 7: coprime to 16

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
# A legend above the plot, in the figure's top margin (container-referenced: Plotly grows the
# margin to fit it, so it never covers the plot), scrolling past 30 % of the figure's height.
LEGEND_ABOVE = {"orientation": "h", "yref": "container", "y": 1, "yanchor": "top", "xanchor": "left", "x": 0,
                "maxheight": 0.3, "font": {"size": 13}}
# A legend below the plot, at the figure's bottom edge (container-referenced as well: Plotly
# reserves its height under the x axes' automargin, tick labels and title, so it covers neither;
# a paper-referenced legend at y < 0 sits a share of the plot's height below the axis, which the
# legend's own margin shrinks, and at some widths it covered the axis title).
LEGEND_BELOW = {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "xanchor": "left", "x": 0,
                "font": {"size": 13}}


def color(k: int) -> str:
    """The colour of configuration k (cycling): a '#RRGGBB' string."""
    return PALETTE[k % len(PALETTE)]


def dash(k: int) -> str:
    """The line dash of configuration k: solid for the first DASH_BLOCK, then the next pattern for
    each next block (so a colour that comes round again, len(PALETTE) later, has another one)."""
    return DASHES[(k // DASH_BLOCK) % len(DASHES)]


def symbol(k: int) -> str:
    """The marker symbol of configuration k, cycling on its own period (len(SYMBOLS))."""
    return SYMBOLS[k % len(SYMBOLS)]


def line(k: int, width: float = 2.5) -> dict:
    """A Plotly line of configuration k: its colour, and its dash past the first DASH_BLOCK
    (solid is Plotly's default, left out)."""
    style = {"color": color(k), "width": width}
    return style if dash(k) == "solid" else {**style, "dash": dash(k)}


def rgba(hex_color: str, alpha: float) -> str:
    """'#RRGGBB' with an alpha channel, as a CSS rgba() string."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:g})"


# Presentation mode (a projector, read from the back row): every text of a figure at least
# PRESENT_MIN_FONT px, lines PRESENT_LINE times as thick, markers PRESENT_MARKER times as large.
PRESENT_FONT = 18
PRESENT_MIN_FONT = 16
PRESENT_LINE = 1.6
PRESENT_MARKER = 1.3
_TEXT_KEYS = ("tickfont", "title")  # of an axis or a colour bar


def _bigger(font: dict | None, size: int = PRESENT_MIN_FONT) -> dict:
    font = dict(font or {})
    font["size"] = max(size, font.get("size") or 0)
    return font


def _axis(axis: dict, cartesian: bool = True) -> dict:
    """An axis or colour bar with its tick labels and title at presentation size; automargin
    so that the larger labels push the plot inwards instead of being cut at the figure's edge."""
    out = {**axis, "tickfont": _bigger(axis.get("tickfont"))}
    title = axis.get("title")
    if isinstance(title, dict):
        out["title"] = {**title, "font": _bigger(title.get("font"))}
    elif isinstance(title, str):
        out["title"] = {"text": title, "font": _bigger(None)}
    if cartesian:
        out["automargin"] = True
    return out


def _trace(trace: dict) -> dict:
    out = dict(trace)
    line = trace.get("line")
    if isinstance(line, dict) and line.get("width"):
        out["line"] = {**line, "width": line["width"] * PRESENT_LINE}
    marker = trace.get("marker")
    if isinstance(marker, dict):
        marker = dict(marker)
        if isinstance(marker.get("size"), (int, float)):
            marker["size"] = marker["size"] * PRESENT_MARKER
        if isinstance(marker.get("colorbar"), dict):
            marker["colorbar"] = _axis(marker["colorbar"], cartesian=False)
        out["marker"] = marker
    if isinstance(trace.get("colorbar"), dict):
        out["colorbar"] = _axis(trace["colorbar"], cartesian=False)
    return out


def presentation(fig: dict) -> dict:
    """A figure dict for presentation mode (see PRESENT_*): a new dict sharing fig's arrays.

    The base font, every axis's tick labels and title, colour bars, the legend and every
    annotation at least PRESENT_MIN_FONT px (the base font PRESENT_FONT); line widths and
    marker sizes scaled up."""
    layout = dict(fig["layout"])
    layout["font"] = _bigger(layout.get("font"), PRESENT_FONT)
    for name, value in fig["layout"].items():
        if name[1:5] == "axis" and isinstance(value, dict):
            layout[name] = _axis(value)
    if isinstance(layout.get("legend"), dict):
        layout["legend"] = {**layout["legend"], "font": _bigger(layout["legend"].get("font"))}
    if layout.get("annotations"):
        layout["annotations"] = [{**a, "font": _bigger(a.get("font"))} for a in layout["annotations"]]
    return {**fig, "data": [_trace(t) for t in fig["data"]], "layout": layout}
