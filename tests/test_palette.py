"""The optimizer colours stay apart: for everyone, under deuteranopia and protanopia, and beyond
eight optimizers.

Colour-vision deficiency is simulated with the matrices of Machado, Oliveira & Fernandes (2009,
severity 1), applied to linear RGB; distances are CIEDE2000 (Sharma, Wu & Dalal 2005) in CIELAB
under D65. For scale: a Delta E of about 2 is just noticeable side by side, lines on a chart want
10 or more. The colour science is checked against the published test values first.
"""

import itertools

import numpy as np
import pytest

from optimizers.run import MAX_CONFIGS
from plots.palette import (
    COLORSCALE,
    DASH_BLOCK,
    DASHES,
    DIVERGED,
    MINIMUM,
    OUTLINE,
    PALETTE,
    SYMBOLS,
    color,
    dash,
    line,
    symbol,
)
from ui.optimizer_panel import MAX_PANELS

MACHADO = {  # severity 1.0, from the paper's table, linear RGB -> linear RGB
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}
VISIONS = (None, "deuteranopia", "protanopia")
OLD_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#999933")

# The thresholds this palette is held to (the old one: 20.6 normal, 5.1 deuteranopic, 6.1 protanopic).
FIRST_EIGHT = {None: 22.5, "deuteranopia": 10.0, "protanopia": 10.0}
ALL_COLOURS = 10.0  # normal vision, every pair of the whole palette
SAME_DASH = 7.5  # under either deficiency, two of the page's configurations drawn with the same dash
MARKERS = 12.0  # from the divergence x, the minimum's star and the outline, under every vision
BACKGROUND = 20.0  # from the contour ramp's lightest and darkest colours, under every vision


def linear_rgb(hex_colour: str) -> np.ndarray:
    srgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def lab(linear: np.ndarray) -> np.ndarray:
    """Linear sRGB [..., 3] -> CIELAB (D65)."""
    to_xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def seen(hex_colour: str, vision: str | None) -> np.ndarray:
    """The CIELAB colour a viewer with `vision` (None: normal) sees."""
    linear = linear_rgb(hex_colour)
    if vision is not None:
        linear = np.clip(MACHADO[vision] @ linear, 0, 1)
    return lab(linear)


def delta_e(lab1, lab2) -> float:
    """CIEDE2000 between two CIELAB colours."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    d_l, d_c, d_h = l2 - l1, c2 - c1, 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_mean = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_mean = (h1 + h2) / 2
    else:
        h_mean = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    r_t = (-2 * np.sqrt(c_mean**7 / (c_mean**7 + 25**7))
           * np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2)))))
    return float(np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)))


def distance(c1: str, c2: str, vision: str | None = None) -> float:
    return delta_e(seen(c1, vision), seen(c2, vision))


def closest_pair(colours, vision=None) -> tuple[float, tuple[str, str]]:
    return min((distance(a, b, vision), (a, b)) for a, b in itertools.combinations(colours, 2))


# --- the colour science -----------------------------------------------------------------------------


@pytest.mark.parametrize(("lab1", "lab2", "expected"), [  # Sharma, Wu & Dalal (2005), table 1
    ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
    ((50, -1.3802, -84.2814), (50, 0, -82.7485), 1.0000),
    ((50, 2.5, 0), (50, 0, -2.5), 4.3065),
    ((50, 2.5, 0), (73, 25, -18), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
])
def test_ciede2000_matches_the_published_values(lab1, lab2, expected):
    assert delta_e(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert delta_e(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def test_simulation_keeps_greys_and_white():
    """Machado's matrices map every grey to itself (rows sum to 1): only hue is lost."""
    for matrix in MACHADO.values():
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
    assert distance("#808080", "#808080", "deuteranopia") < 1e-3
    # red and green, the classic confusion, collapse under both deficiencies
    assert distance("#D55E00", "#999933") > 20 and distance("#D55E00", "#999933", "deuteranopia") < 6


# --- the palette ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vision", VISIONS)
def test_first_eight_stay_apart(vision):
    gap, pair = closest_pair(PALETTE[:8], vision)
    assert gap >= FIRST_EIGHT[vision], f"{pair} are {gap:.1f} apart for {vision or 'normal'} vision"
    old_gap, _ = closest_pair(OLD_PALETTE, vision)
    assert gap > old_gap


def test_no_projector_pairs():
    """The old palette's blue and sky blue (22.3) and orange and vermillion (22.2) washed together on
    a projector: no two of the first eight are that close now."""
    old = min(distance("#0072B2", "#56B4E9"), distance("#E69F00", "#D55E00"))
    assert old == pytest.approx(22.2, abs=0.1)
    assert closest_pair(PALETTE[:8])[0] > old


def test_whole_palette_distinct_for_normal_vision():
    assert len(PALETTE) >= 16 and len(set(PALETTE)) == len(PALETTE)
    gap, pair = closest_pair(PALETTE)
    assert gap >= ALL_COLOURS, f"{pair} are {gap:.1f} apart"


@pytest.mark.parametrize("vision", VISIONS)
def test_colours_stand_out_from_markers_and_background(vision):
    light, dark = COLORSCALE[0][1], COLORSCALE[-1][1]
    for c in PALETTE:
        assert min(distance(c, m, vision) for m in (DIVERGED, MINIMUM, OUTLINE)) >= MARKERS, c
        assert min(distance(c, b, vision) for b in (light, dark)) >= BACKGROUND, c


@pytest.mark.parametrize("vision", VISIONS[1:])
def test_beyond_eight_a_deficient_viewer_tells_them_apart_by_colour_or_dash(vision):
    """Sixteen colours cannot all stay apart for a deuteranope or protanope (the ninth and later
    come as close as 1.7 to one of the first eight): every two of the page's MAX_PANELS
    configurations are SAME_DASH apart under the deficiency, or drawn with different dashes."""
    worst = closest_pair(PALETTE, vision)[0]
    assert worst < SAME_DASH  # so the dashes are needed
    for a, b in itertools.combinations(range(MAX_PANELS), 2):
        if dash(a) == dash(b):
            gap = distance(color(a), color(b), vision)
            assert gap >= SAME_DASH, f"configurations {a + 1} and {b + 1}: {gap:.1f} apart, same dash"


def test_styles_beyond_the_palette():
    """RAdam, the ninth optimizer, no longer gets SGD's blue, and is dashed; each block of
    DASH_BLOCK configurations has its own dash, and marker symbols cycle on their own period, so
    every configuration the engine accepts has its own (colour, dash) and the page's panels their
    own colour."""
    assert color(8) != color(0)
    assert len({color(k) for k in range(MAX_PANELS)}) == MAX_PANELS
    assert DASH_BLOCK == 8 and {dash(k) for k in range(8)} == {"solid"} and dash(8) == dash(15) == DASHES[1]
    assert len({(color(k), dash(k)) for k in range(MAX_CONFIGS)}) == MAX_CONFIGS
    assert "dot" not in DASHES  # the scheduled lr's line
    assert line(0) == {"color": PALETTE[0], "width": 2.5} and line(8)["dash"] == DASHES[1]
    assert line(len(PALETTE)) == {"color": PALETTE[0], "width": 2.5, "dash": DASHES[2]}
    assert [symbol(k) for k in range(len(SYMBOLS) + 1)] == [*SYMBOLS, SYMBOLS[0]]
    assert np.gcd(len(SYMBOLS), len(PALETTE)) == 1  # (colour, symbol) repeats only after their product


def test_seventeen_optimizers_on_the_loss_plot():
    from optimizers import get_optimizer, run
    from plots.series import loss_figure
    from surfaces import get_surface

    configs = [get_optimizer("sgd", lr=0.01 * (k + 1)) for k in range(17)]
    fig = loss_figure(run(get_surface("quadratic"), configs, steps=5, compiled=False))
    lines = fig["data"]
    assert len({lines[k]["line"]["color"] for k in range(16)}) == 16
    assert lines[16]["line"] == {"color": PALETTE[0], "width": 2.5, "dash": "dashdot"}
    assert lines[8]["line"]["dash"] == "dash" and "dash" not in lines[0]["line"]
