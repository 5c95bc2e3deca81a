"""The page's icon, drawn here so that the browser never fetches one from another host (a
Material icon as page_icon is loaded from Google's font server, which an offline class lacks)."""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw

SIZE = 64  # pixels per side
LEVELS = ("#DDE8F2", "#A9C6E0", "#6F9FCB", "#2F6FA8")  # the level rings, outside in
PATH = "#E69F00"  # the trajectory, in the palette's orange


@functools.cache
def icon() -> Image.Image:
    """A SIZE x SIZE RGBA image: nested level ellipses of a valley and a path descending into it."""
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate(LEVELS):
        inset = 4 + 7 * i
        draw.ellipse((inset, inset + 4 * i // 2, SIZE - inset, SIZE - inset - 4 * i // 2), fill=colour)
    draw.line([(6, 12), (18, 22), (27, 30), (32, 32)], fill=PATH, width=5, joint="curve")
    draw.ellipse((28, 28, 36, 36), fill="#1A1A1A")
    return image
