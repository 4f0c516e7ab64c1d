"""Evaluation set readers: YOLO ``data.yaml`` sets and COCO json (FlickrLogos: ``osld.eval.flickrlogos``).

Every reader returns a list of ``Sample`` (one image with its ground-truth boxes in original-image pixels),
so the metrics never see a dataset format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osld.boxes import empty_boxes
from osld.data.yolo import cxcywh_to_xyxy, label_path_for, read_data_yaml, read_yolo_labels
from osld.errors import DatasetError

NO_LOGO = "no-logo"


@dataclass
class Sample:
    """One evaluation image and its ground truth.

    Attributes:
        path: image file.
        boxes: float32 (n, 4) ground-truth boxes, ``x1, y1, x2, y2`` in original-image pixels
            (EXIF-oriented).
        brands: the n boxes' brand names, spelled as the dataset spells them.
        image_label: image-level label (a brand or ``"no-logo"``) for the FlickrLogos SDK metrics; None when
            the dataset gives none.
        has_box_labels: False when the image's boxes are not annotated (FlickrLogos-27 query set); detection
            metrics skip such images.
    """

    path: Path
    boxes: np.ndarray
    brands: list[str]
    image_label: str | None = None
    has_box_labels: bool = True

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.brands = [str(b) for b in self.brands]
        if len(self.brands) != len(self.boxes):
            raise ValueError(f"Sample {self.path}: {len(self.boxes)} boxes but {len(self.brands)} brands")


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as displayed (EXIF orientation applied), read from the header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError) as e:
        raise DatasetError(f"{path}: cannot read image size ({e})") from e
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_yolo_dataset(data_yaml: str | Path, split: str = "val") -> list[Sample]:
    """Images of one split of an ultralytics ``data.yaml`` set, with boxes named by the yaml's class names.

    Raises:
        DatasetError: missing split or image, malformed label, or a class id with no name.
    """
    images, names = read_data_yaml(data_yaml, split)
    samples = []
    for path in images:
        if not path.is_file():
            raise DatasetError(f"{data_yaml}: split '{split}' lists a missing image {path}")
        cls, cxcywh = read_yolo_labels(label_path_for(path))
        unknown = sorted(set(cls.tolist()) - set(names))
        if unknown:
            raise DatasetError(f"{label_path_for(path)}: class ids {unknown} have no name in {data_yaml}")
        boxes = cxcywh_to_xyxy(cxcywh, *image_size(path)) if len(cls) else empty_boxes()
        samples.append(Sample(path, boxes, [names[int(c)] for c in cls]))
    if not samples:
        raise DatasetError(f"{data_yaml}: split '{split}' has no images")
    return samples


def read_coco(ann_json: str | Path, images_dir: str | Path) -> list[Sample]:
    """Images of a COCO detection json, category names as brands; crowd and empty boxes are skipped.

    Raises:
        DatasetError: not a COCO detection json, an unknown category id, or a missing image.
    """
    ann_json, images_dir = Path(ann_json), Path(images_dir)
    try:
        data = json.loads(ann_json.read_text(encoding="utf-8-sig"))
        categories = {c["id"]: str(c["name"]) for c in data["categories"]}
        images = data["images"]
        annotations = data.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{ann_json}: not a COCO detection json ({e})") from e
    per_image: dict = {}
    for a in annotations:
        if a.get("iscrowd"):
            continue
        x, y, w, h = (float(v) for v in a["bbox"])
        if w <= 0 or h <= 0:
            continue
        if a["category_id"] not in categories:
            raise DatasetError(f"{ann_json}: annotation {a.get('id')} has unknown category "
                               f"{a['category_id']}")
        boxes, brands = per_image.setdefault(a["image_id"], ([], []))
        boxes.append((x, y, x + w, y + h))
        brands.append(categories[a["category_id"]])
    samples = []
    for im in images:
        path = images_dir / im["file_name"]
        if not path.is_file():
            raise DatasetError(f"{ann_json}: image {path} is missing")
        boxes, brands = per_image.get(im["id"], ([], []))
        samples.append(Sample(path, boxes, brands))
    if not samples:
        raise DatasetError(f"{ann_json}: no images")
    return samples
