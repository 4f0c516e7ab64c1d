import numpy as np
import pytest

from osld.detector.onnx import letterbox


@pytest.mark.parametrize(("w", "h"), [(1, 1), (640, 480), (480, 640), (10000, 200), (200, 10000), (321, 123)])
def test_letterbox_box_mapping_round_trips(w, h):
    img = np.zeros((h, w, 3), np.uint8)
    out, lb = letterbox(img, 320)
    assert out.shape == (320, 320, 3)
    rng = np.random.default_rng(0)
    xy1 = rng.uniform(0, 1, (20, 2)) * [w, h]
    xy2 = xy1 + rng.uniform(0, 1, (20, 2)) * ([w, h] - xy1)
    boxes = np.concatenate([xy1, xy2], axis=1).astype(np.float32)
    np.testing.assert_allclose(lb.to_original(lb.to_input(boxes)), boxes, rtol=1e-5, atol=1e-3)


def test_letterbox_content_lands_inside_the_padding():
    img = np.full((100, 400, 3), 255, np.uint8)
    out, lb = letterbox(img, 320)
    inside = lb.to_input(np.array([[0, 0, 400, 100]], np.float32))[0]
    x1, y1, x2, y2 = inside.round().astype(int)
    assert (out[y1:y2, x1:x2] == 255).all()
    assert (out[: y1 - 1] == 114).all() and (out[y2 + 1:] == 114).all()


@pytest.fixture(scope="module")
def detector(weights_dir):
    from osld.detector import load_detector

    return load_detector(weights_dir / "detector.onnx")


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((1, 1, 3), np.uint8),
        np.full((200, 10000, 3), 127, np.uint8),
        np.full((10000, 200, 3), 127, np.uint8),
        np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8),
    ],
    ids=["1x1", "10000x200", "200x10000", "noise"],
)
def test_onnx_detector_runs_on_odd_shapes(detector, image):
    (det,) = detector.detect([image])
    h, w = image.shape[:2]
    assert det.xyxy.dtype == np.float32
    assert ((det.xyxy[:, [0, 2]] >= 0) & (det.xyxy[:, [0, 2]] <= w)).all()
    assert ((det.xyxy[:, [1, 3]] >= 0) & (det.xyxy[:, [1, 3]] <= h)).all()
    assert ((det.score >= detector.conf) & (det.score <= 1)).all()


def test_onnx_detector_batch_equals_single(detector):
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 255, (240 + 10 * i, 320, 3), dtype=np.uint8) for i in range(3)]
    batched = detector.detect(imgs)
    for img, b in zip(imgs, batched, strict=True):
        (single,) = detector.detect([img])
        np.testing.assert_allclose(single.xyxy, b.xyxy, atol=1e-2)


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "CMYK", "P"])
def test_pipeline_accepts_any_pil_mode(tmp_path, mode, weights_dir):
    from PIL import Image

    from osld.data.images import load_image

    arr = np.random.default_rng(0).integers(0, 255, (60, 80), dtype=np.uint8)
    img = Image.fromarray(arr, "L")
    img = img.convert("I;16") if mode == "I;16" else img.convert(mode)
    path = tmp_path / f"x_{mode.replace(';', '')}.{'tiff' if mode == 'CMYK' else 'png'}"
    img.save(path)
    loaded = load_image(path)
    assert loaded.pixels.shape == (60, 80, 3) and loaded.pixels.dtype == np.uint8


def test_tiling_keeps_the_whole_image_detections_and_maps_tiles_back(weights_dir):
    from osld.data.images import load_image
    from osld.detector import load_detector
    from osld.eval.metrics import box_iou

    image = load_image(sorted((weights_dir.parent / "datasets" / "demo" / "images").glob("*"))[0]).pixels
    big = np.ascontiguousarray(np.tile(image, (2, 2, 1)))  # the same content in four quadrants
    whole = load_detector(weights_dir / "detector.onnx").detect([image])[0]
    tiled = load_detector(weights_dir / "detector.onnx", tile=2).detect([big])[0]
    h, w = big.shape[:2]
    assert len(whole) > 0 and len(tiled) > 0
    assert ((tiled.xyxy[:, [0, 2]] >= 0) & (tiled.xyxy[:, [0, 2]] <= w)).all()
    assert ((tiled.xyxy[:, [1, 3]] >= 0) & (tiled.xyxy[:, [1, 3]] <= h)).all()
    # each quadrant is one tile of the 2x2 grid (plus overlap): the top-left copy of a confident box is found
    confident = whole.xyxy[whole.score >= 0.5]
    if len(confident):
        assert (box_iou(confident, tiled.xyxy).max(axis=1) >= 0.5).all()


def test_a_tile_box_cut_by_an_inner_tile_border_is_dropped(weights_dir):
    """900 x 900 px in 2 x 2 tiles of 500 px (overlap 20 %): the top-left tile spans 0-500 on both axes."""
    from osld.detector import load_detector
    from osld.types import Detections

    det = load_detector(weights_dir / "detector.onnx", tile=2, conf=0.05)
    crops_seen = []

    def fake_detect(crops):  # boxes in each crop's own pixels
        crops_seen.extend(c.shape[:2] for c in crops)
        top_left = Detections(np.array([[100, 100, 150, 150],  # inside the tile: kept
                                        [450, 200, 500, 260],  # ends on the tile's right border, inside the image
                                        [0, 300, 40, 340]], np.float32),  # on the image's own left border: kept
                              np.array([0.9, 0.8, 0.7], np.float32))
        empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        return [empty, top_left, empty, empty, empty]

    det._detect = fake_detect
    found = det.detect([np.zeros((900, 900, 3), np.uint8)])[0]
    assert crops_seen == [(900, 900)] + [(500, 500)] * 4
    np.testing.assert_array_equal(found.xyxy, [[100, 100, 150, 150], [0, 300, 40, 340]])


def test_a_crowd_of_duplicates_around_one_logo_does_not_crowd_out_a_weaker_logo(weights_dir):
    """Raw output: 40 overlapping anchors on one strong logo, one anchor on a second, weaker logo. With max_det=25
    both logos survive; a top-k before suppression (OpenCV's ``top_k``) kept only the 25 duplicates."""
    from osld.detector import load_detector
    from osld.detector.onnx import Letterbox

    rng = np.random.default_rng(0)
    strong = np.column_stack([100 + rng.uniform(-3, 3, 40), 100 + rng.uniform(-3, 3, 40), np.full(40, 60.0),
                              np.full(40, 40.0), np.linspace(0.9, 0.6, 40)])
    weak = np.array([[250.0, 250.0, 50.0, 30.0, 0.05]])
    raw = np.concatenate([strong, weak]).T.astype(np.float32)  # (4 + 1, anchors), like the ONNX output
    identity = Letterbox(1.0, 1.0, 0.0, 0.0, 320, 320)
    out = load_detector(weights_dir / "detector.onnx", conf=0.02, max_det=25).postprocess(raw, identity)
    assert len(out.xyxy) == 2
    np.testing.assert_allclose(out.score, [0.9, 0.05], atol=1e-6)
    np.testing.assert_allclose(out.xyxy[1], [225, 235, 275, 265], atol=1e-4)
    # max_det still caps what survives suppression
    assert len(load_detector(weights_dir / "detector.onnx", conf=0.02, max_det=1).postprocess(raw, identity).xyxy) == 1
