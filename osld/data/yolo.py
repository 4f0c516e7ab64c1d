"""YOLO-format datasets: ``data.yaml`` reading, label parsing, and deterministic train/val splits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from osld.data.images import IMAGE_EXTENSIONS
from osld.errors import DatasetError


def label_path_for(image_path: Path) -> Path:
    """ultralytics' convention: the last ``images`` path component becomes ``labels``, suffix ``.txt``."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def read_yolo_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Class ids int (n,) and normalized ``cx, cy, w, h`` float32 (n, 4); empty arrays if the file is missing."""
    if not path.exists():
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    try:
        cls = np.array([int(float(r[0])) for r in rows], np.int64)
        boxes = np.array([[float(v) for v in r[1:5]] for r in rows], np.float32).reshape(-1, 4)
    except (ValueError, IndexError) as e:
        raise DatasetError(f"{path}: malformed YOLO label line ({e})") from e
    return cls, boxes


def read_brand_labels(image_path: Path) -> list[tuple[str, np.ndarray]]:
    """The brand boxes of an image in a real set with brand labels (``ROOT/labels_brand/STEM.txt`` beside
    ``ROOT/images/``; one ``brand cx cy w h`` line per box, the brand possibly with spaces): ``(brand, normalized
    cxcywh float64 (4,))`` per box, none when the file is missing."""
    lab = image_path.parent.parent / "labels_brand" / f"{image_path.stem}.txt"
    if not lab.exists():
        return []
    out = []
    for line in lab.read_text().splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        try:
            box = np.array([float(v) for v in parts[-4:]])
        except ValueError as e:
            raise DatasetError(f"{lab}: malformed brand label line ({e})") from e
        out.append((" ".join(parts[:-4]), box))
    return out


def cxcywh_to_xyxy(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    cx, cy, w, h = boxes.T
    return np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height],
                    axis=1).astype(np.float32)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def split_by_hash(paths: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """Deterministic split on file names (stable when files are added): same name, same side, every run."""
    train, val = [], []
    for p in paths:
        h = int(hashlib.sha1(p.name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if h < val_fraction else train).append(p)
    return train, val


REAL_VAL_FRACTION = 0.2  # every model and benchmark holds this share of each real set out, by file name


def yologo_split(root: str | Path, val_fraction: float = REAL_VAL_FRACTION) -> tuple[list[Path], list[Path]]:
    """The real yologo shop-front photos split into a training part and a never-trained-on validation part."""
    root = Path(root)
    if not (root / "images").is_dir():
        raise DatasetError(f"{root}: expected an images/ folder with labels/ beside it")
    return split_by_hash(list_images(root / "images"), val_fraction)


def read_data_yaml(path: str | Path, split: str = "val") -> tuple[list[Path], dict[int, str]]:
    """Image paths of one split of an ultralytics ``data.yaml`` and its class names.

    The split may be a folder, a ``.txt`` list of image paths, or a list of either, relative to ``path:``.
    """
    import yaml

    path = Path(path)
    cfg = yaml.safe_load(path.read_text())
    if split not in cfg:
        raise DatasetError(f"{path}: no '{split}' entry (has: {', '.join(k for k in cfg if k != 'names')})")
    base = Path(cfg.get("path") or path.parent)
    if not base.is_absolute():
        base = (path.parent / base).resolve()
    entries = cfg[split] if isinstance(cfg[split], list) else [cfg[split]]
    images: list[Path] = []
    for entry in entries:
        p = Path(entry) if Path(entry).is_absolute() else base / entry
        if p.is_dir():
            images.extend(list_images(p))
        elif p.suffix == ".txt" and p.is_file():
            for line in p.read_text().splitlines():
                if line.strip():
                    q = Path(line.strip())
                    images.append(q if q.is_absolute() else (p.parent / q))
        else:
            raise DatasetError(f"{path}: split '{split}' entry {entry} is neither a folder nor a .txt list")
    names = cfg.get("names", {0: "logo"})
    if isinstance(names, list):
        names = dict(enumerate(names))
    return images, {int(k): str(v) for k, v in names.items()}
