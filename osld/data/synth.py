"""``osld synth``: a YOLO-format detection dataset of canonical logos pasted into background photos."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from osld._io import atomic_write_text
from osld.data.augment import composite, crop_to_alpha, photometric, placed_alpha, random_warp, recolor, surface_shade
from osld.data.boards import on_board
from osld.data.images import iter_image_files, load_image, load_rgba
from osld.data.logos import CanonicalLogo
from osld.data.real_logos import RealLogo, cut_real_logo
from osld.data.surfaces import chrome, print_on_surface
from osld.data.yolo import split_by_hash


@dataclass(frozen=True)
class SynthConfig:
    image_size: tuple[int, int] = (320, 640)  # longest side drawn uniformly from this range
    max_logos: int = 5
    empty_fraction: float = 0.08
    min_rel_size: float = 0.015  # logo's longest side relative to the image's longest side (log-uniform)
    max_rel_size: float = 0.60
    closeup_p: float = 0.12  # a scene that is one logo filling most of the frame (product shot, sign)
    closeup_rel_size: tuple[float, float] = (0.5, 0.95)
    border_cut_p: float = 0.15  # chance a logo may run up to 35% past the image border
    surface_p: float = 0.45  # printed on fabric, a can, a sign or chrome (osld.data.surfaces)
    chrome_p: float = 0.0  # canonical logos made chrome car emblems first (frame-filling badges, session 35)
    board_p: float = 0.15  # on a board beside lines of text, labelled as the logo alone (osld.data.boards)
    low_contrast_p: float = 0.08  # a one-colour print close to the colour of what it is printed on
    min_visible: float = 0.5  # drop a label whose visible alpha fell below this fraction (occlusion)
    min_box_px: int = 4
    occlusion_p: float = 0.15  # chance a logo gets an opaque bar over part of it
    degrade: bool = True  # whole-image blur/noise/JPEG/lighting after pasting
    real_logo_p: float = 0.0  # share of pasted logos cut from real photos' train boxes, when synthesize gets some
    real_max_upscale: float = 1.5  # a real cut-out is never enlarged past this (no blurry giant photo crops)


BACKGROUND_VAL_FRACTION = 0.25


def background_photos(dirs: Sequence[str | Path], part: Literal["train", "val"] = "train") -> list[Path]:
    """Background photos under ``dirs`` (recursively); ``part="train"`` leaves out a quarter, chosen by file name
    hash, that benchmarks keep as photos without a logo (``part="val"``): no model trains on the photos its false
    alarms are counted on."""
    paths = [p for d in dirs for p in iter_image_files([d])]
    train, val = split_by_hash(paths, BACKGROUND_VAL_FRACTION)
    return {"train": train, "val": val}[part]


def _background(backgrounds: Sequence[Path], rng: np.random.Generator, cfg: SynthConfig) -> np.ndarray:
    long_side = int(rng.integers(cfg.image_size[0], cfg.image_size[1] + 1))
    aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.7))))
    w, h = (long_side, int(long_side / aspect)) if aspect >= 1 else (int(long_side * aspect), long_side)
    if rng.random() < 0.1 or not backgrounds:
        base = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
        noise = rng.normal(0, rng.uniform(0, 20), (h, w, 1))
        return np.clip(base + noise, 0, 255).astype(np.uint8)
    img = load_image(backgrounds[int(rng.integers(len(backgrounds)))]).pixels
    # random crop of the photo, then resize: more backgrounds out of a few hundred photos
    ih, iw = img.shape[:2]
    frac = rng.uniform(0.5, 1.0)
    ch, cw = max(8, int(ih * frac)), max(8, int(iw * frac))
    y, x = int(rng.integers(0, ih - ch + 1)), int(rng.integers(0, iw - cw + 1))
    img = img[y: y + ch, x: x + cw]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA))


def _occlude(image: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Draw an opaque bar over part of a box; returns the occluder mask."""
    x1, y1, x2, y2 = box
    h, w = image.shape[:2]
    mask = np.zeros((h, w), bool)
    bw, bh = x2 - x1, y2 - y1
    if rng.random() < 0.5:  # vertical bar from one side
        ow = int(bw * rng.uniform(0.1, 0.35))
        ox = x1 if rng.random() < 0.5 else x2 - ow
        mask[max(y1 - bh, 0): min(y2 + bh, h), max(ox, 0): max(ox + ow, 0)] = True
    else:
        oh = int(bh * rng.uniform(0.1, 0.35))
        oy = y1 if rng.random() < 0.5 else y2 - oh
        mask[max(oy, 0): max(oy + oh, 0), max(x1 - bw, 0): min(x2 + bw, w)] = True
    image[mask] = rng.integers(0, 256, 3, dtype=np.uint8)
    return mask


@functools.lru_cache(maxsize=1)
def _photometric_pipeline():
    return photometric()  # built once: albumentations pipelines are costly to construct


def _degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    transform = _photometric_pipeline()
    transform.set_random_seed(int(rng.integers(2**31)))  # reproducible from the scene's own seed
    return transform(image=image)["image"]


def render_scene(logos: Sequence[np.ndarray], backgrounds: Sequence[Path], rng: np.random.Generator,
                 cfg: SynthConfig = SynthConfig(), photo: Sequence[bool] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Paste RGBA logos into one background.

    ``photo[i]`` marks ``logos[i]`` as a patch cut from a real photo (``osld.data.real_logos``): it already looks
    printed, so it is neither recoloured nor put on a synthetic surface, and never enlarged past
    ``cfg.real_max_upscale``. A canonical logo may instead sit on a board with text (``cfg.board_p``): the
    board covers what is under it, and the box is the logo's alone.

    Returns:
        (image, boxes): RGB uint8 image and float32 (n, 4) ``x1, y1, x2, y2`` tight boxes of each logo's
        visible alpha (after later logos and occluders covered part of it).
    """
    image = _background(backgrounds, rng, cfg)
    h, w = image.shape[:2]
    shade = surface_shade(image, rng) if rng.random() < 0.4 else None
    masks: list[np.ndarray] = []
    full_areas: list[float] = []
    placed: list[tuple[int, int, int, int]] = []
    closeup = len(logos) > 0 and rng.random() < cfg.closeup_p
    if closeup:
        logos = logos[:1]
    for i, rgba in enumerate(logos):
        real = i < len(photo) and photo[i]
        boarded = not real and cfg.board_p > 0 and rng.random() < cfg.board_p
        if not real:
            rgba = recolor(rgba, rng)
        rgba = crop_to_alpha(random_warp(rgba, rng))
        if boarded:
            rgba = on_board(rgba, rng)  # 5 channels: the board's RGBA and the logo's alpha
        elif not real and cfg.chrome_p > 0 and rng.random() < cfg.chrome_p:
            rgba = crop_to_alpha(chrome(rgba, rng))
        elif not real:
            rgba = print_on_surface(rgba, rng, cfg.surface_p)
        low, high = cfg.closeup_rel_size if closeup else (cfg.min_rel_size, cfg.max_rel_size)
        rel = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        rh, rw = rgba.shape[:2]
        scale = min(rel * max(h, w) / max(rh, rw), 0.98 * w / rw, 0.98 * h / rh)
        if real:
            scale = min(scale, cfg.real_max_upscale)
        nw, nh = max(2, int(round(rw * scale))), max(2, int(round(rh * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        # OpenCV's area resize takes at most 4 channels: a board's logo alpha goes on its own
        rgba = np.dstack([cv2.resize(rgba[..., c: c + 4], (nw, nh), interpolation=interpolation)
                          for c in range(0, rgba.shape[2], 4)])
        cut = 0.35 if rng.random() < cfg.border_cut_p else 0.0
        lo_x, hi_x = -int(cut * nw), w - nw + int(cut * nw)
        lo_y, hi_y = -int(cut * nh), h - nh + int(cut * nh)
        for _ in range(10):  # avoid heavy overlap with logos already placed
            x, y = int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))
            if all(x + nw < px1 or px2 < x or y + nh < py1 or py2 < y for px1, py1, px2, py2 in placed):
                break
        if not real and not boarded and rng.random() < cfg.low_contrast_p:
            region = image[max(y, 0): max(y + nh, 1), max(x, 0): max(x + nw, 1)].reshape(-1, 3)
            base = region.mean(axis=0) if len(region) else np.full(3, 128.0)
            delta = rng.uniform(20, 50) * (1 if base.mean() < 128 else -1)
            rgba = rgba.copy()
            rgba[..., :3] = np.clip(base + delta, 0, 255).astype(np.uint8)
        mask = composite(image, rgba[..., :4], x, y, shade)
        for m in masks:  # the new logo (or its board) hides what is below it
            m *= 1.0 - mask
        if boarded:
            mask = placed_alpha(rgba[..., 4], x, y, image.shape[:2])  # where the logo itself is
        masks.append(mask)
        full_areas.append(float((mask > 0.5).sum()))
        placed.append((x, y, x + nw, y + nh))
        if rng.random() < cfg.occlusion_p:
            occluder = _occlude(image, (x, y, x + nw, y + nh), rng)
            for m in masks:
                m[occluder] = 0.0
    if cfg.degrade:
        image = _degrade(image, rng)
    boxes = []
    for mask, full in zip(masks, full_areas, strict=True):
        visible = mask > 0.5
        n_visible = int(visible.sum())
        if full == 0 or n_visible < cfg.min_visible * full:
            continue
        ys, xs = np.nonzero(visible)
        x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        if min(x2 - x1, y2 - y1) >= cfg.min_box_px:
            boxes.append((x1, y1, x2, y2))
    return image, np.asarray(boxes, np.float32).reshape(-1, 4)


def write_yolo_label(path: Path, boxes: np.ndarray, width: int, height: int) -> None:
    lines = []
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(f"0 {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def synthesize(out: str | Path, catalogue: Sequence[CanonicalLogo], background_dirs: Sequence[str | Path],
               n: int, seed: int = 0, cfg: SynthConfig = SynthConfig(), progress: bool = True,
               real_logos: Sequence[RealLogo] = ()) -> Path:
    """Write ``n`` scenes to ``out/images``, ``out/labels`` and ``out/data.yaml``; returns the yaml path.

    With ``real_logos`` (``osld.data.real_logos.real_logo_boxes``), each pasted logo is a cut-out of one of those
    real boxes with probability ``cfg.real_logo_p`` instead of a canonical logo.

    Image ``i`` depends only on ``(seed, i)``, so an interrupted run resumes where it stopped and gives the same
    files as an uninterrupted one.
    """
    from tqdm import tqdm

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    backgrounds = background_photos(background_dirs, "train")
    if not catalogue:
        raise ValueError("synthesize: the logo catalogue is empty")
    cache: dict[Path, np.ndarray] = {}
    for i in tqdm(range(n), desc="synth", disable=not progress, unit="img"):
        img_path = out / "images" / f"{i:06d}.jpg"
        label_path = out / "labels" / f"{i:06d}.txt"
        if img_path.exists() and label_path.exists():
            continue
        rng = np.random.default_rng([seed, i])
        k = 0 if rng.random() < cfg.empty_fraction else int(rng.integers(1, cfg.max_logos + 1))
        chosen = [catalogue[int(j)] for j in rng.integers(0, len(catalogue), k)]
        cuts: list[np.ndarray | None] = [None] * k  # a real cut-out instead of the chosen canonical logo
        if real_logos and cfg.real_logo_p > 0:  # no extra draws otherwise: older seeds give the same scenes
            for j in range(k):
                if rng.random() < cfg.real_logo_p:
                    cuts[j] = cut_real_logo(real_logos[int(rng.integers(len(real_logos)))])
        for logo, cut in zip(chosen, cuts, strict=True):
            if cut is None and logo.path not in cache:  # a replaced canonical logo is never read
                cache[logo.path] = load_rgba(logo.path)
        rgbas = [cache[logo.path] if cut is None else cut for logo, cut in zip(chosen, cuts, strict=True)]
        image, boxes = render_scene(rgbas, backgrounds, rng, cfg, [cut is not None for cut in cuts])
        tmp = img_path.with_suffix(".tmp.jpg")
        cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        write_yolo_label(label_path, boxes, image.shape[1], image.shape[0])
        os.replace(tmp, img_path)
    yaml_path = out / "data.yaml"
    yaml_path.write_text(f"path: {out.resolve()}\ntrain: images\nval: images\nnames:\n  0: logo\n")
    return yaml_path
