"""Training samples for the embedder: canonical logos rendered as a detector's crop of a photo, and real crops.

Each class is a list of ``Source``s; a sample is one source rendered through a random augmentation. Canonical
brand classes come from ``../shared/data/logos``; real-domain classes are instance-level (each boxed yologo crop
its own class, seen through two augmentations) or brand-level (LogoDet-3K clothes crops).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from osld.data.augment import crop_to_alpha, photometric, random_warp, recolor
from osld.data.images import load_image, load_rgba
from osld.data.logos import CanonicalLogo, by_brand
from osld.data.surfaces import print_on_surface
from osld.data.yolo import (
    cxcywh_to_xyxy,
    label_path_for,
    list_images,
    read_brand_labels,
    read_yolo_labels,
    split_by_hash,
)
from osld.embedder.preprocess import to_input
from osld.errors import ConfigError

BACKGROUND = -1  # the label of a patch of a photo without a logo (NormSoftmaxLoss's outlier term)


@dataclass(frozen=True)
class Source:
    path: Path
    box: tuple[float, float, float, float] | None = None  # None: a canonical RGBA logo; else a crop of a photo


def brand_split(brands: Sequence[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic brand-level split (by name hash): validation brands are never trained on."""
    train, val = [], []
    for b in sorted(brands):
        h = int(hashlib.sha1(("val:" + b).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if h < val_fraction else train).append(b)
    return train, val


def canonical_classes(catalogue: Sequence[CanonicalLogo], brands: Sequence[str]) -> list[list[Source]]:
    groups = by_brand(list(catalogue))
    return [[Source(logo.path) for logo in groups[b]] for b in brands]


def yolo_crop_classes(images: Sequence[Path], min_side: int = 20) -> list[list[Source]]:
    """Each labelled box of each image becomes its own class (instance discrimination on real crops)."""
    classes = []
    for img_path in images:
        _, boxes = read_yolo_labels(label_path_for(img_path))
        if not len(boxes):
            continue
        h, w = cv2.imread(str(img_path), cv2.IMREAD_REDUCED_GRAYSCALE_8).shape[:2]
        h, w = h * 8, w * 8  # approximate size is enough for the size filter
        for box in cxcywh_to_xyxy(boxes, w, h):
            if min(box[2] - box[0], box[3] - box[1]) >= min_side:
                classes.append([Source(img_path, tuple(float(v) for v in box))])
    return classes


def brand_crop_classes(root: Path, min_side: int = 16, split: str = "all", val_fraction: float = 0.2
                       ) -> tuple[list[str], list[list[Source]]]:
    """LogoDet-3K-style ``labels_brand/*.txt`` (brand cx cy w h): one class per brand over all its crops.

    ``split``: ``train`` or ``val`` keeps that side of the fixed by-file-name split (``split_by_hash``) that every
    osld model uses for real sets, so validation photos are never trained on; ``all`` keeps every image.
    """
    by: dict[str, list[Source]] = {}
    images = list_images(root / "images")
    if split != "all":
        images = dict(zip(("train", "val"), split_by_hash(images, val_fraction), strict=True))[split]
    for img_path in images:
        labels = read_brand_labels(img_path)
        if not labels:
            continue
        img = cv2.imread(str(img_path))
        if img is None:
            continue
        h, w = img.shape[:2]
        for brand, cxcywh in labels:
            box = cxcywh_to_xyxy(cxcywh[None].astype(np.float32), w, h)[0]  # float32: the crops of earlier sessions
            if min(box[2] - box[0], box[3] - box[1]) >= min_side:
                by.setdefault(brand, []).append(Source(img_path, tuple(float(v) for v in box)))
    names = sorted(by)
    return names, [by[n] for n in names]


class SampleRenderer:
    """Renders a ``Source`` into a model input (3, size, size) float32, the way a detector crop looks."""

    def __init__(self, backgrounds: Sequence[Path], size: int = 112, cache_limit: int = 12000,
                 max_margin: float = 0.3, negatives: Sequence[Path] = (), chrome_share: float = 0.1):
        if not 0.0 <= max_margin <= 1.0:
            raise ValueError(f"max_margin is a fraction of the logo size per side, 0 to 1; got {max_margin}")
        if not 0.0 <= chrome_share <= 0.6:
            raise ValueError(f"chrome_share is the fraction of canonical renders made chrome emblems, 0 to 0.6; "
                             f"got {chrome_share}")
        self.backgrounds = list(backgrounds)
        self.negatives = list(negatives)  # photos without logos, for render_background
        self.size = size
        self.max_margin = max_margin
        self.chrome_share = chrome_share
        self.photometric = photometric(p=0.9)
        self._cache: dict[Path, np.ndarray] = {}
        self._bg_cache: dict[Path, np.ndarray] = {}
        self.cache_limit = cache_limit

    def _rgba(self, path: Path) -> np.ndarray:
        img = self._cache.get(path)
        if img is None:
            img = load_rgba(path)
            if len(self._cache) < self.cache_limit:
                self._cache[path] = img
        return img

    def _photo(self, path: Path) -> np.ndarray:
        img = self._bg_cache.get(path)
        if img is None:
            img = load_image(path).pixels
            if len(self._bg_cache) < 3000:
                self._bg_cache[path] = img
        return img

    def _background_patch(self, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        r = rng.random()
        if r < 0.15 or not self.backgrounds:
            return np.full((h, w, 3), 255 if r < 0.05 else rng.integers(0, 256, 3), np.uint8)
        photo = self._photo(self.backgrounds[int(rng.integers(len(self.backgrounds)))])
        ph, pw = photo.shape[:2]
        scale = max(h / ph, w / pw, rng.uniform(0.3, 1.0) * max(h / ph, w / pw) * 2)
        photo = cv2.resize(photo, (max(w, int(pw * scale) + 1), max(h, int(ph * scale) + 1)))
        y = int(rng.integers(0, photo.shape[0] - h + 1))
        x = int(rng.integers(0, photo.shape[1] - w + 1))
        return photo[y: y + h, x: x + w].copy()

    def render_canonical(self, path: Path, rng: np.random.Generator) -> np.ndarray:
        rgba = recolor(self._rgba(path), rng)
        rgba = crop_to_alpha(random_warp(rgba, rng, max_rotate=20, max_perspective=0.1))
        # absolute shares of all renders: 40 % on the other surfaces, chrome_share as chrome emblems, rest flat
        # (chrome_share 0.1 is the mix every run before session 28 used)
        rgba = print_on_surface(rgba, rng, p=0.4 + self.chrome_share,
                                weights={"cylinder": 0.15, "fabric": 0.15, "chrome": self.chrome_share, "sign": 0.1})
        h, w = rgba.shape[:2]
        # margins as a detector box leaves them: 0 to max_margin of the logo size on each side, independently
        ml, mr, mt, mb = (rng.uniform(0.0, self.max_margin, 4) * np.array([w, w, h, h])).astype(int)
        canvas = self._background_patch(h + mt + mb, w + ml + mr, rng).astype(np.float32)
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        region = canvas[mt: mt + h, ml: ml + w]
        canvas[mt: mt + h, ml: ml + w] = alpha * rgba[..., :3] + (1 - alpha) * region
        out = canvas.clip(0, 255).astype(np.uint8)
        if rng.random() < 0.15:  # partial occlusion
            oh, ow = out.shape[:2]
            if rng.random() < 0.5:
                bw = int(ow * rng.uniform(0.1, 0.3))
                x0 = 0 if rng.random() < 0.5 else ow - bw
                out[:, x0: x0 + bw] = rng.integers(0, 256, 3)
            else:
                bh = int(oh * rng.uniform(0.1, 0.3))
                y0 = 0 if rng.random() < 0.5 else oh - bh
                out[y0: y0 + bh] = rng.integers(0, 256, 3)
        return out

    def render_crop(self, path: Path, box: tuple[float, float, float, float], rng: np.random.Generator
                    ) -> np.ndarray:
        photo = self._photo(path)
        ph, pw = photo.shape[:2]
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        dx1, dx2, dy1, dy2 = rng.uniform(-0.05, self.max_margin - 0.05, 4) * np.array([bw, bw, bh, bh])
        x1, x2 = int(max(0, x1 - dx1)), int(min(pw, x2 + dx2))
        y1, y2 = int(max(0, y1 - dy1)), int(min(ph, y2 + dy2))
        crop = photo[y1:max(y2, y1 + 2), x1:max(x2, x1 + 2)]
        if rng.random() < 0.5:
            angle = rng.uniform(-12, 12)
            m = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), angle, 1.0)
            crop = cv2.warpAffine(crop, m, (crop.shape[1], crop.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(crop)

    def render_background(self, rng: np.random.Generator) -> np.ndarray:
        """A region of a photo without a logo, boxed as a detector's false proposal: 5-60 % of the photo's side,
        aspect 1:4 to 4:1."""
        if not self.negatives:
            raise ValueError("render_background needs photos without logos (negatives)")
        photo = self._photo(self.negatives[int(rng.integers(len(self.negatives)))])
        ph, pw = photo.shape[:2]
        side = rng.uniform(0.05, 0.6) * min(ph, pw)
        aspect = np.exp(rng.uniform(-np.log(4), np.log(4)))
        w, h = int(min(pw, max(8, side * np.sqrt(aspect)))), int(min(ph, max(8, side / np.sqrt(aspect))))
        y, x = int(rng.integers(0, ph - h + 1)), int(rng.integers(0, pw - w + 1))
        return self._finish(np.ascontiguousarray(photo[y: y + h, x: x + w]), rng)

    def __call__(self, source: Source, rng: np.random.Generator) -> np.ndarray:
        rgb = (self.render_canonical(source.path, rng) if source.box is None
               else self.render_crop(source.path, source.box, rng))
        return self._finish(rgb, rng)

    def _finish(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < 0.3:  # low resolution: small logos in photos are blurry after upsampling
            side = int(rng.integers(16, 64))
            h, w = rgb.shape[:2]
            s = side / max(h, w)
            if s < 1:
                rgb = cv2.resize(rgb, (max(2, int(w * s)), max(2, int(h * s))), interpolation=cv2.INTER_AREA)
        self.photometric.set_random_seed(int(rng.integers(2**31)))  # the sample depends on its seed only
        rgb = self.photometric(image=rgb)["image"]
        return to_input(rgb, self.size)


class ClassDataset:
    """torch-style map dataset indexed by ``(class_id, sample_seed)``."""

    def __init__(self, classes: Sequence[Sequence[Source]], renderer: SampleRenderer):
        self.classes = classes
        self.renderer = renderer

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, int]:
        class_id, seed = key
        rng = np.random.default_rng(seed)
        if class_id == BACKGROUND:
            return self.renderer.render_background(rng), BACKGROUND
        sources = self.classes[class_id]
        crops = [s for s in sources if s.box is not None]
        if crops and len(crops) < len(sources) and rng.random() < 0.5:  # a brand with both: half real photos
            sources = crops
        elif crops and len(crops) < len(sources):
            sources = [s for s in sources if s.box is None]
        source = sources[int(rng.integers(len(sources)))]
        return self.renderer(source, rng), class_id


class BalancedBatchSampler:
    """Class-balanced batches: ``classes_per_batch`` classes x ``samples_per_class`` samples.

    ``real_fraction`` of the classes in each batch come from the real-crop classes (ids >= ``n_canonical``);
    ``background_samples`` patches of photos without a logo (``BACKGROUND``) come on top.
    """

    def __init__(self, n_canonical: int, n_real: int, classes_per_batch: int = 32, samples_per_class: int = 2,
                 real_fraction: float = 0.25, seed: int = 0, start_step: int = 0, hard_fraction: float = 0.5,
                 background_samples: int = 0):
        self.n_canonical, self.n_real = n_canonical, n_real
        self.p, self.k = classes_per_batch, samples_per_class
        if not 0.0 <= real_fraction <= 1.0:
            raise ConfigError(f"real_fraction must be within 0-1, got {real_fraction}")
        self.real_fraction = real_fraction if n_real else 0.0
        self.real_per_batch = int(round(classes_per_batch * self.real_fraction))
        if self.real_per_batch > n_real:
            raise ConfigError(f"real_fraction {real_fraction} asks for {self.real_per_batch} real-crop classes per "
                              f"batch; there are {n_real}")
        self.seed = seed
        self.step = start_step
        self.hard_fraction = hard_fraction
        self.background_samples = background_samples
        # (n_canonical, m) nearest other canonical classes by proxy similarity, refreshed by the training loop;
        # the sampler runs in the main process, so the loop's updates reach the next batches.
        self.neighbours: np.ndarray | None = None

    def _canonical_ids(self, rng: np.random.Generator, n: int) -> list[int]:
        """``n`` distinct canonical classes; ``hard_fraction`` of them are neighbours of the others."""
        if self.neighbours is None or self.hard_fraction <= 0:
            return [int(c) for c in rng.choice(self.n_canonical, n, replace=False)]
        n_anchor = max(1, int(round(n * (1 - self.hard_fraction))))
        ids = [int(c) for c in rng.choice(self.n_canonical, n_anchor, replace=False)]
        chosen = set(ids)
        for anchor in ids[:]:
            if len(ids) >= n:
                break
            for c in rng.permutation(self.neighbours[anchor]):
                if int(c) not in chosen:
                    ids.append(int(c))
                    chosen.add(int(c))
                    break
        while len(ids) < n:
            c = int(rng.integers(self.n_canonical))
            if c not in chosen:
                ids.append(c)
                chosen.add(c)
        return ids

    def __iter__(self):
        while True:
            rng = np.random.default_rng([self.seed, self.step])
            ids = self._canonical_ids(rng, self.p - self.real_per_batch)
            if self.real_per_batch:
                ids += list(self.n_canonical + rng.choice(self.n_real, self.real_per_batch, replace=False))
            seeds = rng.integers(0, 2**62, len(ids) * self.k)
            batch = [(int(c), int(seeds[i * self.k + j])) for i, c in enumerate(ids) for j in range(self.k)]
            if self.background_samples:  # drawn after the classes, so batches without them stay as they were
                batch += [(BACKGROUND, int(s)) for s in rng.integers(0, 2**62, self.background_samples)]
            yield batch
            self.step += 1
