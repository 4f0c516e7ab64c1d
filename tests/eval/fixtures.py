"""Tiny evaluation sets in the real FlickrLogos-32, FlickrLogos-27, YOLO and COCO layouts, with drawn logos.

Importable outside pytest (``from tests.eval.fixtures import make_flickrlogos32``). Every builder writes
small JPEGs with cv2 and returns the path a reader takes; the module constants hold the ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from osld.types import Detections

SIZE = (240, 180)  # width, height of every fixture image

# FlickrLogos-32: jpg folder name -> masks folder name (the real set spells HP differently in places).
FL32_FOLDERS = {"adidas": "adidas", "HP": "hp", "cocacola": "cocacola"}
FL32_SPLIT_OF_INDEX = ("trainset", "testset", "testset", "valset")  # per brand, image index -> split
FL32_NO_LOGO = {"9001.jpg": "testset", "9002.jpg": "testset", "9003.jpg": "valset"}


def fl32_boxes(index: int) -> list[tuple[int, int, int, int]]:
    """``x y width height`` boxes of a brand's image ``index`` (the first test image has two logos)."""
    boxes = [(20 + 10 * index, 30, 80, 60)]
    if index == 1:
        boxes.append((150, 100, 60, 50))
    return boxes


def fl32_images() -> list[tuple[str, str, str, list[tuple[int, int, int, int]]]]:
    """(jpg folder brand, file name, split, xywh boxes) of every logo image, in list order."""
    rows = []
    for b, brand in enumerate(FL32_FOLDERS):
        for i, split in enumerate(FL32_SPLIT_OF_INDEX):
            rows.append((brand, f"{1000 + 10 * b + i}.jpg", split, fl32_boxes(i)))
    return rows


# ------------------------------------------------------------------------------------------------- drawing


def _background(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = SIZE
    grad = np.linspace(60, 190, w, dtype=np.float32)[None, :, None]
    img = np.broadcast_to(grad, (h, w, 3)) + rng.normal(0, 12, (h, w, 3))
    img[..., 1] *= 0.9
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_logo(img: np.ndarray, brand: str, xyxy: tuple[int, int, int, int]) -> None:
    """Draw a recognisable stand-in logo for ``brand`` filling ``xyxy`` (BGR, in place)."""
    x1, y1, x2, y2 = (int(v) for v in xyxy)
    key = "".join(c for c in brand.lower() if c.isalnum())
    w, h = x2 - x1, y2 - y1
    if key == "adidas":
        cv2.rectangle(img, (x1, y1), (x2, y2), (255, 255, 255), -1)
        for k in range(3):
            bx = x1 + w * (2 + 3 * k) // 12
            top = y1 + h * (2 - k) // 4
            dx, lean = w // 6, w // 10
            pts = np.array([[bx, y2 - 4], [bx + dx, y2 - 4], [bx + dx + lean, top], [bx + lean, top]])
            cv2.fillPoly(img, [pts.astype(np.int32)], (0, 0, 0))
    elif key == "hp":
        cv2.rectangle(img, (x1, y1), (x2, y2), (255, 255, 255), -1)
        cv2.circle(img, ((x1 + x2) // 2, (y1 + y2) // 2), min(w, h) // 2 - 2, (200, 120, 0), -1)
        cv2.putText(img, "hp", (x1 + w // 2 - 12, y1 + h // 2 + 7), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                    (255, 255, 255), 2)
    elif key == "cocacola":
        cv2.rectangle(img, (x1, y1), (x2, y2), (30, 20, 220), -1)
        xs = np.arange(x1 + 3, x2 - 3)
        ys = (y1 + h / 2 + h / 5 * np.sin((xs - x1) / w * 2 * np.pi)).astype(np.int32)
        cv2.polylines(img, [np.stack([xs, ys], 1).astype(np.int32)], False, (255, 255, 255), 2)
    else:
        color = tuple(int(c) for c in np.random.default_rng(sum(map(ord, key))).integers(0, 255, 3))
        cv2.rectangle(img, (x1, y1), (x2, y2), color, -1)
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 0), 2)
        cv2.putText(img, brand[:4], (x1 + 4, y1 + h // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1)


def write_scene(path: Path, logos: list[tuple[str, tuple[int, int, int, int]]], seed: int) -> None:
    """A JPEG with the given (brand, xyxy) logos drawn on a noisy gradient."""
    img = _background(seed)
    for brand, xyxy in logos:
        draw_logo(img, brand, xyxy)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 92]):
        raise OSError(f"cannot write {path}")


def _write_lines(path: Path, lines: list[str], bom: bool = False, crlf: bool = False) -> None:
    nl = "\r\n" if crlf else "\n"
    path.write_bytes(((("\ufeff" if bom else "") + nl.join(lines) + nl)).encode("utf-8"))


# ---------------------------------------------------------------------------------------------- builders


def make_flickrlogos32(root: str | Path, bom: bool = False, crlf: bool = False) -> Path:
    """Write a 3-brand FlickrLogos-32 copy (adidas, HP, cocacola + no-logo) under ``root``.

    Each brand has 4 images (1 trainset, 2 testset, 1 valset; the first test image has two logos), no-logo
    has 3 (2 testset, 1 valset). Folders, box files, instance masks and all list files (``brand,filename``
    and ``.relpaths.txt`` variants, ``testset-logosonly``) follow the real download; HP is ``HP`` under
    ``classes/jpg`` and ``hp`` under ``classes/masks``.

    Args:
        root: parent folder; ``root/FlickrLogos-v2`` is created.
        bom: start every list file with a UTF-8 BOM.
        crlf: use CRLF line ends in list and box files.

    Returns:
        The ``FlickrLogos-v2`` folder.
    """
    base = Path(root) / "FlickrLogos-v2"
    lists: dict[str, list[tuple[str, str]]] = {"trainset": [], "valset": [], "testset": []}
    for n, (brand, name, split, boxes) in enumerate(fl32_images()):
        xyxy = [(x, y, x + w, y + h) for x, y, w, h in boxes]
        write_scene(base / "classes" / "jpg" / brand / name, [(brand, b) for b in xyxy], seed=n)
        masks = base / "classes" / "masks" / FL32_FOLDERS[brand]
        masks.mkdir(parents=True, exist_ok=True)
        box_lines = ["x y width height"] + [" ".join(map(str, b)) for b in boxes]
        _write_lines(masks / f"{name}.bboxes.txt", box_lines, crlf=crlf)
        for k, (x1, y1, x2, y2) in enumerate(xyxy):
            mask = np.zeros(SIZE[::-1], np.uint8)
            mask[y1:y2, x1:x2] = 255
            cv2.imwrite(str(masks / f"{name}.mask.{k}.png"), mask)
        lists[split].append((brand, name))
    for n, (name, split) in enumerate(FL32_NO_LOGO.items()):
        write_scene(base / "classes" / "jpg" / "no-logo" / name, [], seed=100 + n)
        lists[split].append(("no-logo", name))
    lists["testset-logosonly"] = [row for row in lists["testset"] if row[0] != "no-logo"]
    lists["all"] = lists["trainset"] + lists["valset"] + lists["testset"]
    for split, rows in lists.items():
        _write_lines(base / f"{split}.txt", [f"{b},{f}" for b, f in rows], bom=bom, crlf=crlf)
        relpaths = [f"classes/jpg/{b}/{f}" for b, f in rows]
        _write_lines(base / f"{split}.relpaths.txt", relpaths, bom=bom, crlf=crlf)
    return base


# FlickrLogos-27: (image, brand, first cumulative subset, xyxy); a box appears in subsets first..6.
FL27_BOXES = [
    ("101.jpg", "Adidas", 1, (10, 20, 90, 80)),
    ("101.jpg", "Adidas", 3, (120, 90, 200, 160)),
    ("102.jpg", "Apple", 2, (40, 40, 120, 130)),
    ("103.jpg", "HP", 6, (60, 30, 150, 110)),
]
FL27_QUERY = [("201.jpg", "Adidas"), ("202.jpg", "HP"), ("203.jpg", "none"), ("204.jpg", "none")]


def make_flickrlogos27(root: str | Path, degenerate: bool = False) -> Path:
    """Write a FlickrLogos-27 copy: 3 annotated images (4 distinct boxes, each repeated over the cumulative
    subsets), 4 query images (2 with logos, 2 ``none``).

    Args:
        root: parent folder; ``root/flickr_logos_27_dataset`` is created.
        degenerate: add a zero-width box on an extra image ``104.jpg`` (the reader drops it with a warning).

    Returns:
        The ``flickr_logos_27_dataset`` folder.
    """
    base = Path(root) / "flickr_logos_27_dataset"
    images = base / "flickr_logos_27_dataset_images"
    per_image: dict[str, list] = {}
    lines = []
    for subset in range(1, 7):
        for image, brand, first, xyxy in FL27_BOXES:
            if subset >= first:
                lines.append(f"{image} {brand} {subset} {' '.join(map(str, xyxy))}")
    for image, brand, _, xyxy in FL27_BOXES:
        per_image.setdefault(image, []).append((brand, xyxy))
    if degenerate:
        lines.append("104.jpg Apple 1 50 50 50 90")
        per_image["104.jpg"] = []
    for n, (image, logos) in enumerate(per_image.items()):
        write_scene(images / image, logos, seed=200 + n)
    for n, (image, brand) in enumerate(FL27_QUERY):
        logos = [] if brand == "none" else [(brand, (50, 40, 150, 120))]
        write_scene(images / image, logos, seed=300 + n)
    _write_lines(base / "flickr_logos_27_dataset_training_set_annotation.txt", lines)
    query_lines = [f"{i}\t{b}" for i, b in FL27_QUERY]
    _write_lines(base / "flickr_logos_27_dataset_query_set_annotation.txt", query_lines)
    return base


YOLO_NAMES = {0: "adidas", 1: "HP"}
# image stem -> (class id, xyxy pixel box) list; "b2" has no label file (a background image).
YOLO_LABELS = {
    "b0": [(0, (24, 18, 120, 90))],
    "b1": [(1, (120, 90, 216, 171)), (0, (0, 0, 48, 36))],
    "b2": [],
}


def make_yolo(root: str | Path) -> Path:
    """Write a YOLO set (``images/val``, ``labels/val``, ``data.yaml`` with brand names).

    Returns:
        The ``data.yaml`` path.
    """
    import yaml

    root = Path(root) / "yolo"
    w, h = SIZE
    for n, (stem, labels) in enumerate(YOLO_LABELS.items()):
        logos = [(YOLO_NAMES[c], b) for c, b in labels]
        write_scene(root / "images" / "val" / f"{stem}.jpg", logos, seed=400 + n)
        if labels:
            rows = [f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} "
                    f"{(y2 - y1) / h:.6f}" for c, (x1, y1, x2, y2) in labels]
            (root / "labels" / "val").mkdir(parents=True, exist_ok=True)
            _write_lines(root / "labels" / "val" / f"{stem}.txt", rows)
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "train": "images/val", "val": "images/val",
                                    "names": YOLO_NAMES}))
    return data


COCO_CATEGORIES = {1: "adidas", 2: "coca-cola"}
# file name -> (category id, xywh, iscrowd)
COCO_ANNOTATIONS = {
    "c0.jpg": [(1, (10, 10, 60, 40), 0), (2, (100, 80, 80, 60), 0)],
    "c1.jpg": [(2, (30, 30, 90, 70), 0), (1, (150, 20, 40, 40), 1)],
    "c2.jpg": [],
}


def make_coco(root: str | Path) -> tuple[Path, Path]:
    """Write a COCO set (one crowd box, one image without boxes); returns (ann.json, images folder)."""
    root = Path(root) / "coco"
    images, annotations = [], []
    for n, (name, anns) in enumerate(COCO_ANNOTATIONS.items()):
        logos = [(COCO_CATEGORIES[c], (x, y, x + w, y + h)) for c, (x, y, w, h), _ in anns]
        write_scene(root / "images" / name, logos, seed=500 + n)
        images.append({"id": n + 1, "file_name": name, "width": SIZE[0], "height": SIZE[1]})
        for c, box, crowd in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": n + 1, "category_id": c,
                                "bbox": list(box), "area": box[2] * box[3], "iscrowd": crowd})
    ann = root / "ann.json"
    ann.write_text(json.dumps({"images": images, "annotations": annotations,
                               "categories": [{"id": k, "name": v} for k, v in COCO_CATEGORIES.items()]}))
    return ann, root / "images"


def perfect_detections(samples: list, score: float = 0.9, lower: bool = True) -> list[Detections]:
    """Detections equal to each sample's ground truth (brands lower-cased to exercise brand matching).

    A sample with only an image label (FlickrLogos-27 query) gets one whole-image box of that brand.
    """
    out = []
    for s in samples:
        boxes, brands = s.boxes.copy(), list(s.brands)
        if not s.has_box_labels and s.image_label not in (None, "no-logo"):
            boxes, brands = np.array([[0, 0, *SIZE]], np.float32), [s.image_label]
        brand = np.array([b.lower() if lower else b for b in brands], dtype=object)
        out.append(Detections(boxes, np.full(len(boxes), score, np.float32), brand=brand))
    return out
