"""FlickrLogos-32 and FlickrLogos-27 readers (their folder layouts, split files and annotation quirks).

Both return ``Sample`` lists like every reader in ``osld.eval.datasets``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from osld.boxes import empty_boxes
from osld.errors import ConfigError, DatasetError, OsldWarning
from osld.eval.datasets import NO_LOGO, Sample

FL27_IMAGES = "flickr_logos_27_dataset_images"
FL27_TRAIN = "flickr_logos_27_dataset_training_set_annotation.txt"
FL27_QUERY = "flickr_logos_27_dataset_query_set_annotation.txt"


def _read_lines(path: Path) -> list[str]:
    """Non-empty, stripped lines; tolerates a UTF-8 BOM and CRLF/CR line ends."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e})") from e
    return [s for s in (line.replace("\ufeff", "").strip() for line in text.splitlines()) if s]



def _is_no_logo_name(name: str) -> bool:
    return re.sub(r"[^0-9a-z]", "", name.lower()) in ("nologo", "none")



# --------------------------------------------------------------------------------------------- FlickrLogos-32


def find_flickrlogos32_root(root: str | Path) -> Path:
    """The ``FlickrLogos-v2/`` folder: ``root`` itself or its ``FlickrLogos-v2`` child.

    Raises:
        DatasetError: neither holds ``classes/jpg/``.
    """
    root = Path(root)
    for cand in (root, root / "FlickrLogos-v2"):
        if (cand / "classes" / "jpg").is_dir():
            return cand
    raise DatasetError(f"{root}: not a FlickrLogos-32 folder "
                       "(expected FlickrLogos-v2/classes/jpg/<brand>/*.jpg)")


def _subdirs_by_key(folder: Path) -> dict[str, Path]:
    """Subfolders keyed by lower-cased name (FlickrLogos-32 spells ``HP`` and ``hp`` in different places)."""
    if not folder.is_dir():
        return {}
    return {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_dir()}


def _fl32_split_file(root: Path, split: str) -> Path:
    p = Path(split)
    names = [f"{split}.txt", f"{split}.relpaths.txt"]
    candidates = [p, root / p] if p.suffix == ".txt" else [root / n for n in names]
    for cand in candidates:
        if cand.is_file():
            return cand
    available = ", ".join(sorted(q.stem for q in root.glob("*.txt"))) or "none"
    raise DatasetError(f"{root}: no split list '{split}' (tried {', '.join(c.name for c in candidates)}; "
                       f"available: {available})")


def _parse_fl32_line(line: str, where: str) -> tuple[str, str]:
    """``brand,filename`` or a relative path ``classes/jpg/<brand>/<filename>`` -> (brand, filename)."""
    line = line.replace("\\", "/")
    if "/" in line:
        parts = [p for p in line.split("/") if p]
        if len(parts) >= 2:
            return parts[-2].strip(), parts[-1].strip()
    elif "," in line:
        brand, _, name = line.partition(",")
        if brand.strip() and name.strip():
            return brand.strip(), name.strip()
    raise DatasetError(f"{where}: expected 'brand,filename' or 'classes/jpg/<brand>/<file>', got {line!r}")


def read_flickrlogos32_bboxes(path: str | Path) -> np.ndarray:
    """Boxes of one ``<id>.jpg.bboxes.txt``: header ``x y width height``, then one ``x y w h`` line per box.

    Returns:
        float32 (n, 4) ``x1, y1, x2, y2`` in pixels; boxes with no area are dropped.

    Raises:
        DatasetError: a line other than the header is not four numbers.
    """
    path = Path(path)
    rows = []
    for i, line in enumerate(_read_lines(path)):
        tokens = [t for t in re.split(r"[\s,;]+", line) if t]
        try:
            x, y, w, h = (float(t) for t in tokens[:4])
        except ValueError as e:
            if i == 0:  # the "x y width height" header
                continue
            raise DatasetError(f"{path}: line {i + 1} is not 'x y width height' numbers: {line!r}") from e
        if w > 0 and h > 0:
            rows.append((x, y, x + w, y + h))
    return np.array(rows, np.float32).reshape(-1, 4)


def read_flickrlogos32(root: str | Path, split: str = "testset") -> list[Sample]:
    """Images of one FlickrLogos-32 split with their boxes and image labels.

    Args:
        root: the ``FlickrLogos-v2/`` folder (or its parent).
        split: list name (``trainset``, ``valset``, ``testset``, ``testset-logosonly``, ``all``; the
            ``.relpaths.txt`` variant is used when the plain one is absent) or a path to a ``.txt`` list.

    Returns:
        One ``Sample`` per listed image, in list order. Brands are spelled as the ``classes/jpg`` folder
        names; no-logo images have no boxes and ``image_label == "no-logo"``.

    Raises:
        DatasetError: the list, an image, a brand folder or a logo image's box file is missing or malformed.
    """
    root = find_flickrlogos32_root(root)
    jpg_dirs = _subdirs_by_key(root / "classes" / "jpg")
    mask_dirs = _subdirs_by_key(root / "classes" / "masks")
    list_path = _fl32_split_file(root, split)
    samples: list[Sample] = []
    seen: set[Path] = set()
    missing: list[Path] = []
    for lineno, line in enumerate(_read_lines(list_path), 1):
        brand, name = _parse_fl32_line(line, f"{list_path}:{lineno}")
        jpg_dir = jpg_dirs.get(brand.lower())
        if jpg_dir is None:
            raise DatasetError(f"{list_path}:{lineno}: brand '{brand}' has no folder in "
                               f"{root / 'classes' / 'jpg'}")
        path = jpg_dir / name
        if path in seen:
            continue
        seen.add(path)
        if not path.is_file():
            missing.append(path)
            continue
        if _is_no_logo_name(brand):
            samples.append(Sample(path, empty_boxes(), [], image_label=NO_LOGO))
            continue
        mask_dir = mask_dirs.get(brand.lower(), root / "classes" / "masks" / jpg_dir.name)
        bbox_file = mask_dir / f"{name}.bboxes.txt"
        if not bbox_file.is_file():
            raise DatasetError(f"{path}: no box file {bbox_file}")
        boxes = read_flickrlogos32_bboxes(bbox_file)
        samples.append(Sample(path, boxes, [jpg_dir.name] * len(boxes), image_label=jpg_dir.name))
    if missing:
        raise DatasetError(f"{list_path}: {len(missing)} listed images are missing, e.g. {missing[0]}")
    if not samples:
        raise DatasetError(f"{list_path}: lists no images")
    return samples


def flickrlogos32_train_crops(root: str | Path, n_per_brand: int, out_dir: str | Path,
                              split: str = "trainset", progress: bool = False) -> dict[str, int]:
    """Build a registry folder from the first ``n_per_brand`` training images of each brand.

    Each ground-truth box is cropped (clipped to the image) and written as ``<out_dir>/<brand>/<id>_<k>.png``.

    Args:
        root: the ``FlickrLogos-v2/`` folder.
        n_per_brand: images per brand, taken in list order.
        out_dir: registry folder to write (created; existing files are kept).
        split: list to take the images from.
        progress: show a tqdm bar.

    Returns:
        Crops written per brand.

    Raises:
        ConfigError: ``n_per_brand < 1``.
        DatasetError: see ``read_flickrlogos32``; or an image cannot be decoded.
    """
    import cv2
    from tqdm import tqdm

    from osld.data.images import load_image
    from osld.errors import ImageReadError

    if n_per_brand < 1:
        raise ConfigError(f"n_per_brand must be >= 1, got {n_per_brand}")
    out_dir = Path(out_dir)
    taken: dict[str, int] = {}
    chosen = []
    for s in read_flickrlogos32(root, split):
        if s.image_label is None or s.image_label == NO_LOGO or taken.get(s.image_label, 0) >= n_per_brand:
            continue
        taken[s.image_label] = taken.get(s.image_label, 0) + 1
        chosen.append(s)
    counts: dict[str, int] = dict.fromkeys(taken, 0)
    for s in tqdm(chosen, desc="registry crops", unit="img", disable=not progress):
        try:
            img = load_image(s.path)
        except ImageReadError as e:
            raise DatasetError(str(e)) from e
        h, w = img.pixels.shape[:2]
        for k, (x1, y1, x2, y2) in enumerate(np.round(s.boxes).astype(int)):
            x1, x2 = max(0, x1), min(w, x2)
            y1, y2 = max(0, y1), min(h, y2)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            folder = out_dir / s.image_label
            folder.mkdir(parents=True, exist_ok=True)
            crop = np.ascontiguousarray(img.pixels[y1:y2, x1:x2, ::-1])
            if not cv2.imwrite(str(folder / f"{s.path.stem}_{k}.png"), crop):
                raise DatasetError(f"cannot write crop to {folder}")
            counts[s.image_label] += 1
    empty = sorted(b for b, n in counts.items() if n == 0)
    if empty:
        warnings.warn(f"no usable training crops for: {', '.join(empty)}", OsldWarning, stacklevel=2)
    return counts


# --------------------------------------------------------------------------------------------- FlickrLogos-27


def find_flickrlogos27_root(root: str | Path) -> Path:
    """The folder with the FlickrLogos-27 annotation files: ``root`` or ``root/flickr_logos_27_dataset``."""
    root = Path(root)
    for cand in (root, root / "flickr_logos_27_dataset"):
        if (cand / FL27_TRAIN).is_file():
            return cand
    raise DatasetError(f"{root}: not a FlickrLogos-27 folder (expected {FL27_TRAIN})")


def read_flickrlogos27(root: str | Path, query: bool = True) -> list[Sample]:
    """FlickrLogos-27: box-annotated training images, plus the query set for image-level metrics.

    The training annotation repeats each box across 6 cumulative subsets (``image brand subset x1 y1 x2 y2``);
    identical (image, brand, box) rows are kept once, boxes with no area are dropped (with a warning). Query
    lines are ``image brand`` with brand ``none`` for logo-free images; they have no boxes, so those samples
    have ``has_box_labels=False`` and only count in image-level metrics. Box-annotated samples have no
    ``image_label`` (the protocol scores image labels on the query set only).

    Args:
        root: folder with the two annotation files and ``flickr_logos_27_dataset_images/``.
        query: also read the query set.

    Raises:
        DatasetError: missing files/folder, a malformed line, or a missing annotated image.
    """
    root = find_flickrlogos27_root(root)
    images_dir = root / FL27_IMAGES
    if not images_dir.is_dir():
        tarball = root / f"{FL27_IMAGES}.tar.gz"
        hint = f" (extract {tarball.name} first)" if tarball.exists() else ""
        raise DatasetError(f"{root}: no {FL27_IMAGES}/ folder{hint}")
    train_file = root / FL27_TRAIN
    per_image: dict[str, tuple[list, list]] = {}
    seen: set[tuple] = set()
    n_degenerate = 0
    for lineno, line in enumerate(_read_lines(train_file), 1):
        tokens = line.split()
        try:
            image, brand = tokens[0], tokens[1]
            x1, y1, x2, y2 = (float(t) for t in tokens[3:7])
        except (ValueError, IndexError) as e:
            raise DatasetError(f"{train_file}:{lineno}: expected 'image brand subset x1 y1 x2 y2', "
                               f"got {line!r}") from e
        key = (image, brand, x1, y1, x2, y2)
        if key in seen:
            continue
        seen.add(key)
        if x2 <= x1 or y2 <= y1:
            n_degenerate += 1
            continue
        boxes, brands = per_image.setdefault(image, ([], []))
        boxes.append((x1, y1, x2, y2))
        brands.append(brand)
    if n_degenerate:
        warnings.warn(f"{train_file.name}: dropped {n_degenerate} boxes with no area", OsldWarning,
                      stacklevel=2)
    missing = [name for name in per_image if not (images_dir / name).is_file()]
    if missing:
        raise DatasetError(f"{images_dir}: {len(missing)} annotated images are missing, e.g. {missing[0]}")
    samples = {name: Sample(images_dir / name, boxes, brands) for name, (boxes, brands) in per_image.items()}
    if query:
        _add_fl27_query(root, images_dir, samples)
    if not samples:
        raise DatasetError(f"{train_file}: no boxes")
    return list(samples.values())


def _add_fl27_query(root: Path, images_dir: Path, samples: dict[str, Sample]) -> None:
    query_file = root / FL27_QUERY
    if not query_file.is_file():
        warnings.warn(f"{root}: no {FL27_QUERY}; image-level metrics are skipped", OsldWarning, stacklevel=3)
        return
    missing = []
    for lineno, line in enumerate(_read_lines(query_file), 1):
        tokens = line.split()
        if len(tokens) < 2:
            raise DatasetError(f"{query_file}:{lineno}: expected 'image brand', got {line!r}")
        name, brand = tokens[0], tokens[1]
        label = NO_LOGO if _is_no_logo_name(brand) else brand
        if name in samples:
            samples[name].image_label = label
            continue
        path = next((p for p in (images_dir / name, root / name) if p.is_file()), None)
        if path is None:
            missing.append(name)
            continue
        samples[name] = Sample(path, empty_boxes(), [], image_label=label, has_box_labels=False)
    if missing:
        warnings.warn(f"{query_file.name}: {len(missing)} query images not found in {images_dir} (skipped), "
                      f"e.g. {missing[0]}", OsldWarning, stacklevel=3)
