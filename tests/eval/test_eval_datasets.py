"""Readers of the FlickrLogos-32/27, YOLO and COCO layouts, on tiny fixtures written in each layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osld.errors import DatasetError, OsldWarning
from osld.eval import (
    evaluate,
    flickrlogos32_train_crops,
    read_coco,
    read_flickrlogos27,
    read_flickrlogos32,
    read_yolo_dataset,
)
from osld.eval.flickrlogos import FL27_IMAGES, FL27_TRAIN, read_flickrlogos32_bboxes

from .fixtures import (
    COCO_ANNOTATIONS,
    FL27_BOXES,
    YOLO_LABELS,
    fl32_images,
    make_flickrlogos27,
    make_flickrlogos32,
    perfect_detections,
)


def _xyxy(xywh):
    return [[x, y, x + w, y + h] for x, y, w, h in xywh]


# ------------------------------------------------------------------------------------------- FlickrLogos-32


def test_fl32_testset(fl32_root: Path):
    samples = read_flickrlogos32(fl32_root, "testset")
    assert len(samples) == 8  # 3 brands x 2 + 2 no-logo
    expected = {name: (brand, boxes) for brand, name, split, boxes in fl32_images() if split == "testset"}
    for s in samples:
        if s.image_label == "no-logo":
            assert s.path.parent.name == "no-logo" and len(s.boxes) == 0 and s.brands == []
            continue
        brand, boxes = expected[s.path.name]
        assert s.image_label == brand and s.brands == [brand] * len(boxes)
        np.testing.assert_array_equal(s.boxes, _xyxy(boxes))
        assert s.boxes.dtype == np.float32 and s.path.is_file()
    assert sum(len(s.boxes) for s in samples) == 9


@pytest.mark.parametrize(
    ("split", "n"),
    [("trainset", 3), ("valset", 4), ("testset-logosonly", 6), ("all", 15), ("testset.relpaths.txt", 8)],
)
def test_fl32_splits(fl32_root: Path, split: str, n: int):
    assert len(read_flickrlogos32(fl32_root, split)) == n


def test_fl32_parent_folder_and_relpaths_only(fl32_root: Path):
    for name in ("testset.txt", "all.txt"):
        (fl32_root / name).unlink()  # only the relpaths variant is left
    by_list = read_flickrlogos32(fl32_root.parent, "testset")  # the parent of FlickrLogos-v2 works too
    by_path = read_flickrlogos32(fl32_root, "testset.relpaths.txt")
    assert [s.path for s in by_list] == [s.path for s in by_path]
    assert {s.image_label for s in by_list} == {"adidas", "HP", "cocacola", "no-logo"}


def test_fl32_bom_crlf_and_case(tmp_path: Path):
    root = make_flickrlogos32(tmp_path, bom=True, crlf=True)
    assert (root / "testset.txt").read_bytes().startswith(b"\xef\xbb\xbfadidas,")
    assert b"\r\n" in (root / "classes" / "masks" / "hp" / "1011.jpg.bboxes.txt").read_bytes()
    # the list spells the brand in another case than the jpg folder, which differs from the masks folder
    text = (root / "testset.txt").read_text(encoding="utf-8-sig")
    text = text.replace("HP,", "hp,").replace("cocacola", "CocaCola")
    (root / "testset.txt").write_text("\ufeff" + text, newline="")
    samples = read_flickrlogos32(root, "testset")
    assert len(samples) == 8
    hp = [s for s in samples if s.image_label == "HP"]
    assert len(hp) == 2 and hp[0].path.parent.name == "HP" and len(hp[0].boxes) == 2
    assert sum(s.image_label == "cocacola" for s in samples) == 2
    assert len(read_flickrlogos32(root, "testset.relpaths.txt")) == 8


def test_fl32_bboxes_file(tmp_path: Path):
    p = tmp_path / "1.jpg.bboxes.txt"
    p.write_bytes(b"\xef\xbb\xbfx y width height\r\n10 20 30 40\r\n\r\n5\t6\t7\t8 \r\n1 1 0 5\r\n")
    np.testing.assert_array_equal(read_flickrlogos32_bboxes(p), [[10, 20, 40, 60], [5, 6, 12, 14]])
    p.write_text("x y width height\n10 20 abc 40\n")
    with pytest.raises(DatasetError, match="line 2"):
        read_flickrlogos32_bboxes(p)


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        (lambda r: (r / "classes" / "masks" / "adidas" / "1001.jpg.bboxes.txt").unlink(), "no box file"),
        (lambda r: (r / "classes" / "jpg" / "HP" / "1012.jpg").unlink(), "1 listed images are missing"),
        (lambda r: (r / "testset.txt").write_text("nike,1.jpg\n"), "brand 'nike' has no folder"),
        (lambda r: (r / "testset.txt").write_text("just-a-name\n"), "expected 'brand,filename'"),
        (lambda r: [(r / f).unlink() for f in ("testset.txt", "testset.relpaths.txt")], "no split list"),
    ],
)
def test_fl32_bad_layout(fl32_root: Path, breakage, match: str):
    breakage(fl32_root)
    with pytest.raises(DatasetError, match=match):
        read_flickrlogos32(fl32_root, "testset")


def test_fl32_not_a_dataset(tmp_path: Path):
    with pytest.raises(DatasetError, match="not a FlickrLogos-32 folder"):
        read_flickrlogos32(tmp_path)


def test_fl32_perfect_predictions_and_known_errors(fl32_root: Path):
    samples = read_flickrlogos32(fl32_root, "testset")
    preds = perfect_detections(samples)
    res = evaluate(samples, preds)
    assert res["map50"] == 1.0 and res["detection_recall"] == 1.0
    assert res["image_accuracy"] == res["image_precision"] == res["image_recall"] == 1.0
    assert set(res["per_class_ap"]) == {"adidas", "HP", "cocacola"}
    assert res["n_images"] == 8 and res["n_box_images_without_logo"] == 2

    # Miss one of adidas's 3 test boxes: recall steps 1/3, 2/3 at precision 1 -> AP = 2/3;
    # mAP = (2/3 + 1 + 1) / 3 = 8/9. Class-agnostic recall 8/9 too (8 of 9 boxes).
    first = next(i for i, s in enumerate(samples) if s.image_label == "adidas" and len(s.boxes) == 2)
    missed = list(preds)
    missed[first] = preds[first][[0]]
    res = evaluate(samples, missed)
    assert res["per_class_ap"]["adidas"] == pytest.approx(2 / 3)
    assert res["map50"] == pytest.approx(8 / 9)
    assert res["detection_recall"] == pytest.approx(8 / 9)
    assert res["image_accuracy"] == 1.0  # the image still has an adidas detection

    # A false "HP" on a no-logo image scoring above every true box (0.95 > 0.9): HP ranks FP, TP, TP, TP ->
    # precision [0, 1/2, 2/3, 3/4] at recall [0, 1/3, 2/3, 1]; envelope 3/4 everywhere -> AP = 0.75.
    # Image level: 8 images, the no-logo one now reads "HP" -> accuracy 7/8, precision 6/7, recall 6/6.
    nologo = next(i for i, s in enumerate(samples) if s.image_label == "no-logo")
    fp = list(preds)
    fp[nologo] = perfect_detections([samples[first]], score=0.95)[0][[0]]
    fp[nologo].brand[:] = "hp"
    res = evaluate(samples, fp)
    assert res["per_class_ap"]["HP"] == pytest.approx(0.75)
    assert res["map50"] == pytest.approx((1 + 0.75 + 1) / 3)
    assert res["detection_recall"] == 1.0
    assert res["image_accuracy"] == pytest.approx(7 / 8)
    assert res["image_precision"] == pytest.approx(6 / 7)
    assert res["image_recall"] == 1.0


def test_fl32_train_crops(fl32_root: Path, tmp_path: Path):
    out = tmp_path / "registry"
    counts = flickrlogos32_train_crops(fl32_root, 1, out)
    assert counts == {"adidas": 1, "HP": 1, "cocacola": 1}
    crops = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert crops == ["HP/1010_0.png", "adidas/1000_0.png", "cocacola/1020_0.png"]
    import cv2

    assert cv2.imread(str(out / "adidas" / "1000_0.png")).shape == (60, 80, 3)  # the 80x60 box


# ------------------------------------------------------------------------------------------- FlickrLogos-27


def test_fl27_dedup_and_query(fl27_root: Path):
    samples = read_flickrlogos27(fl27_root)
    boxed = [s for s in samples if s.has_box_labels]
    query = [s for s in samples if not s.has_box_labels]
    # 4 distinct boxes although the annotation file has 6 + 4 + 5 + 1 = 16 lines
    assert len((fl27_root / FL27_TRAIN).read_text().splitlines()) == 16
    assert [s.path.name for s in boxed] == ["101.jpg", "102.jpg", "103.jpg"]
    assert sum(len(s.boxes) for s in boxed) == len(FL27_BOXES) == 4
    np.testing.assert_array_equal(boxed[0].boxes, [[10, 20, 90, 80], [120, 90, 200, 160]])
    assert boxed[0].brands == ["Adidas", "Adidas"] and all(s.image_label is None for s in boxed)
    assert [(s.path.name, s.image_label) for s in query] == [
        ("201.jpg", "Adidas"), ("202.jpg", "HP"), ("203.jpg", "no-logo"), ("204.jpg", "no-logo")]
    res = evaluate(samples, perfect_detections(samples))
    assert res["map50"] == 1.0 and res["n_gt_boxes"] == 4
    assert res["image_level"]["n_images"] == 4
    # query images carry no boxes: predicting their logo scores at image level only
    res = evaluate(samples, [None] * len(samples))
    assert res["image_accuracy"] == 0.5 and res["image_recall"] == 0.0 and res["map50"] == 0.0


def test_fl27_degenerate_box_warns(tmp_path: Path):
    root = make_flickrlogos27(tmp_path, degenerate=True)
    with pytest.warns(OsldWarning, match="dropped 1 boxes with no area"):
        samples = read_flickrlogos27(root)
    assert "104.jpg" not in {s.path.name for s in samples}


def test_fl27_missing_query_images_warn(fl27_root: Path):
    (fl27_root / FL27_IMAGES / "203.jpg").unlink()
    with pytest.warns(OsldWarning, match="1 query images not found"):
        samples = read_flickrlogos27(fl27_root)
    assert len(samples) == 6


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        (lambda r: (r / FL27_IMAGES / "102.jpg").unlink(), "1 annotated images are missing"),
        (lambda r: (r / FL27_TRAIN).write_text("1.jpg Apple\n"), "expected 'image brand subset"),
        (lambda r: (r / FL27_TRAIN).unlink(), "not a FlickrLogos-27"),
        (lambda r: (r / FL27_IMAGES).rename(r / "elsewhere"), "no flickr_logos_27_dataset_images/ folder"),
    ],
)
def test_fl27_bad_layout(fl27_root: Path, breakage, match: str):
    breakage(fl27_root)
    with pytest.raises(DatasetError, match=match):
        read_flickrlogos27(fl27_root)


# -------------------------------------------------------------------------------------------- YOLO, COCO


def test_yolo_reader(yolo_yaml: Path):
    samples = read_yolo_dataset(yolo_yaml, "val")
    by_stem = {s.path.stem: s for s in samples}
    assert set(by_stem) == set(YOLO_LABELS)
    for stem, labels in YOLO_LABELS.items():
        s = by_stem[stem]
        assert s.brands == [{0: "adidas", 1: "HP"}[c] for c, _ in labels] and s.image_label is None
        expected = np.array([b for _, b in labels], np.float32).reshape(-1, 4)
        np.testing.assert_allclose(s.boxes, expected, atol=1e-3)
    assert evaluate(samples, perfect_detections(samples))["map50"] == 1.0


def test_yolo_unknown_class(yolo_yaml: Path):
    (yolo_yaml.parent / "labels" / "val" / "b0.txt").write_text("7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=r"class ids \[7\]"):
        read_yolo_dataset(yolo_yaml)


def test_coco_reader(coco_set: tuple[Path, Path]):
    ann, images = coco_set
    samples = read_coco(ann, images)
    assert [s.path.name for s in samples] == list(COCO_ANNOTATIONS)
    assert samples[0].brands == ["adidas", "coca-cola"]
    np.testing.assert_array_equal(samples[0].boxes, [[10, 10, 70, 50], [100, 80, 180, 140]])
    assert samples[1].brands == ["coca-cola"]  # the crowd box is skipped
    assert len(samples[2].boxes) == 0
    preds = perfect_detections(samples)
    preds[1].brand[:] = "CocaCola"  # brand matching ignores case and punctuation
    assert evaluate(samples, preds)["map50"] == 1.0


def test_coco_missing_image(coco_set: tuple[Path, Path]):
    ann, images = coco_set
    (images / "c2.jpg").unlink()
    with pytest.raises(DatasetError, match="c2.jpg is missing"):
        read_coco(ann, images)
