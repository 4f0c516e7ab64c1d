"""A logo on a board among other marks: a shop sign, a label or a poster with lines of plain text beside it.

The boxes of real photos (yologo's above all) go round the logo alone, not round the sign that carries it, and a
detector trained on free-floating logos boxes the whole sign instead (``osld evaluate detector``'s miss causes:
"inside a larger box"). ``on_board`` returns the board with a fifth channel, the logo's own alpha, which is what
``osld.data.synth`` labels. Hand-written because it is a layout, not an augmentation; the text is drawn with
OpenCV's built-in Hershey fonts, so no font file is needed or downloaded.
"""

from __future__ import annotations

import cv2
import numpy as np

from osld.data.augment import composite, crop_to_alpha, random_warp

# What shop signs say beside a logo. Generic words only: no brand names, which would be logos of their own.
WORDS = ("PHARMACY", "OPEN", "CAFE", "BAKERY", "MARKET", "HOTEL", "CLINIC", "SERVICE", "STORE", "DELI", "FOODS",
         "SALE", "24 HOURS", "WELCOME", "DRINKS", "PARKING", "FRESH", "HAIR", "NAILS", "GRILL", "TAXI", "AUTO",
         "REPAIR", "BOOKS", "FLOWERS", "OPTICIAN", "DENTAL", "BANK", "Walk-in", "Open daily", "Coffee & Tea",
         "Since 1987", "Family Shop", "Free delivery", "www.", "Tel.")
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_PLAIN)


def _line(rng: np.random.Generator) -> str:
    if rng.random() < 0.2:
        return " ".join(str(int(rng.integers(100, 1000))) for _ in range(3))  # a phone number
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), int(rng.integers(1, 3))))


def _text(lines: list[str], height: int, colour: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Lines of text, each ``height`` px tall, as an RGBA patch (transparent around the letters)."""
    font = FONTS[int(rng.integers(len(FONTS)))]
    (_, h1), _ = cv2.getTextSize("A", font, 1.0, 1)
    scale = height / max(h1, 1)
    thickness = max(1, int(round(height / rng.uniform(6, 12))))
    sizes = [cv2.getTextSize(s, font, scale, thickness) for s in lines]
    step = int(height * 1.5)
    width = max(w for (w, _), _ in sizes) + 2 * thickness
    patch = np.zeros((step * len(lines) + 2 * thickness, width, 4), np.uint8)
    for i, s in enumerate(lines):
        cv2.putText(patch, s, (thickness, i * step + height + thickness), font, scale, (*colour, 255), thickness,
                    cv2.LINE_AA)
    return patch


def on_board(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The logo on a board beside (or above) lines of text, seen at an angle.

    Returns:
        uint8 (h, w, 5): the board's RGBA and, in channel 4, the alpha of the logo on it (what a label boxes).
    """
    h, w = rgba.shape[:2]
    board_colour = rng.integers(0, 256, 3)
    ink = tuple(int(c) for c in np.where(board_colour.mean() < 128, rng.integers(170, 256, 3),
                                         rng.integers(0, 90, 3)))
    side = rng.random() < 0.6  # "[logo] Name" as on most shop fronts; else the name under the logo
    text_h = max(6, int(h * rng.uniform(0.25, 0.6) if side else w * rng.uniform(0.08, 0.2)))
    text = _text([_line(rng) for _ in range(int(rng.integers(1, 3)))], text_h, ink, rng)
    th, tw = text.shape[:2]
    pad, gap = int(rng.uniform(0.1, 0.5) * max(h, w)) + 2, int(rng.uniform(0.1, 0.4) * max(h, w)) + 2
    if side:
        bh, bw = max(h, th) + 2 * pad, w + gap + tw + 2 * pad
        logo_xy, text_xy = (pad, (bh - h) // 2), (pad + w + gap, (bh - th) // 2)
        if rng.random() < 0.3:  # the logo on the right
            logo_xy, text_xy = (bw - pad - w, logo_xy[1]), (pad, text_xy[1])
    else:
        bh, bw = h + gap + th + 2 * pad, max(w, tw) + 2 * pad
        logo_xy, text_xy = ((bw - w) // 2, pad), ((bw - tw) // 2, pad + h + gap)
    rgb = np.empty((bh, bw, 3), np.uint8)
    rgb[:] = board_colour
    if rng.random() < 0.3:  # a frame round the board
        cv2.rectangle(rgb, (pad // 3, pad // 3), (bw - 1 - pad // 3, bh - 1 - pad // 3), ink, max(1, pad // 6))
    composite(rgb, text, *text_xy)
    logo_alpha = composite(rgb, rgba, *logo_xy)
    board = np.dstack([rgb, np.full((bh, bw), 255, np.uint8), np.round(logo_alpha * 255).astype(np.uint8)])
    return crop_to_alpha(random_warp(board, rng, max_rotate=10, max_perspective=0.25))
