"""Text as a second matching signal: real PP-OCRv4 reads of real/rendered wordmarks, aliases, fusion."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="the [text] extra is not installed")

from osld import Pipeline  # noqa: E402
from osld.registry import read_aliases  # noqa: E402
from osld.text import BrandTexts, FusionConfig, TextReader, fuse, normalize_text  # noqa: E402
from osld.types import UNKNOWN  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "datasets" / "demo"


@pytest.fixture(scope="module")
def reader():
    return TextReader(threads=1)


@pytest.fixture(scope="module")
def demo_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "logos"
    shutil.copytree(DEMO / "logos", root, ignore=shutil.ignore_patterns(".osld"))
    return root


def on_photo(rgba: np.ndarray, pad: int = 12) -> np.ndarray:
    """``rgba`` composited on a patch of a real demo photo (a region crop with some background around it)."""
    photo = cv2.cvtColor(cv2.imread(str(DEMO / "images" / "car_bmw.jpg")), cv2.COLOR_BGR2RGB)
    h, w = rgba.shape[:2]
    patch = cv2.resize(photo[:200, :200], (w + 2 * pad, h + 2 * pad)).astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255 if rgba.shape[2] == 4 else np.ones((h, w, 1), np.float32)
    patch[pad:pad + h, pad:pad + w] = alpha * rgba[..., :3] + (1 - alpha) * patch[pad:pad + h, pad:pad + w]
    return patch.astype(np.uint8)


def rendered(text: str) -> np.ndarray:
    """Black text on white, drawn with OpenCV's Hershey font (not the font of any logo)."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 1.6, 3)
    img = np.full((h + base + 20, w + 20, 3), 255, np.uint8)
    cv2.putText(img, text, (10, h + 10), cv2.FONT_HERSHEY_DUPLEX, 1.6, (20, 20, 20), 3, cv2.LINE_AA)
    return img


@pytest.fixture(scope="module")
def nvidia_scores(reader, demo_registry):
    rgba = cv2.cvtColor(cv2.imread(str(demo_registry / "nvidia" / "logos.png"), cv2.IMREAD_UNCHANGED),
                        cv2.COLOR_BGRA2RGBA)
    lines = reader.read([on_photo(rgba)])[0]
    texts = BrandTexts.from_registry(demo_registry, sorted(p.name for p in demo_registry.iterdir()))
    return lines, texts.scores([ln.text for ln in lines])


def test_normalize_text():
    assert normalize_text("Coca-Cola") == normalize_text("COCA COLA") == normalize_text("coca_cola") == "cocacola"
    assert normalize_text("Citroën ") == "citroen"


def test_real_ocr_reads_a_wordmark_and_matches_its_brand(nvidia_scores):
    lines, scores = nvidia_scores
    assert any("nvidia" in normalize_text(ln.text) for ln in lines), lines
    assert max(scores, key=scores.get) == "nvidia"
    assert scores["nvidia"] >= FusionConfig().t_name


def test_aliases_txt_is_honoured(reader, tmp_path):
    brand = tmp_path / "Coca-Cola"
    brand.mkdir()
    shutil.copy(DEMO / "logos" / "netflix" / "logos.png", brand / "a.png")
    lines = reader.read([on_photo(rendered("Coke"))])[0]
    reads = [ln.text for ln in lines]
    assert normalize_text("".join(reads)) == "coke", reads
    assert BrandTexts.from_registry(tmp_path, ["Coca-Cola"]).scores(reads).get("Coca-Cola", 0) < 0.8
    (brand / "aliases.txt").write_text("# other names\ncoke\n\n Coca Cola Zero \n", encoding="utf-8")
    assert read_aliases(brand) == ["coke", "Coca Cola Zero"]
    assert BrandTexts.from_registry(tmp_path, ["Coca-Cola"]).scores(reads)["Coca-Cola"] == 1.0


def test_fusion_breaks_a_close_visual_call_for_the_brand_read(nvidia_scores):
    _, scores = nvidia_scores
    close = [("intel", 0.61), ("nvidia", 0.60), ("python", 0.41)]  # visually intel by a hair
    assert fuse(close, {}, 0.45, FusionConfig()) == ("intel", "visual")
    assert fuse(close, scores, 0.45, FusionConfig()) == ("nvidia", "tie")
    # a clear visual call is not overturned by an approximate read, only by an exact one
    assert fuse([("intel", 0.90), ("nvidia", 0.50)], {"nvidia": 0.95}, 0.45, FusionConfig())[0] == "intel"
    assert fuse([("intel", 0.90), ("nvidia", 0.50)], scores, 0.45, FusionConfig()) == ("nvidia", "override")
    assert fuse([("intel", 0.90)], scores, 0.45, FusionConfig(t_override=1.01))[0] == "intel"
    # below the visual threshold, a strong read names the region
    assert fuse([("intel", 0.30), ("nvidia", 0.20)], scores, 0.45, FusionConfig()) == ("nvidia", "named")


def test_random_text_names_no_brand(reader, demo_registry):
    texts = BrandTexts.from_registry(demo_registry, sorted(p.name for p in demo_registry.iterdir()))
    crops = [on_photo(rendered(t)) for t in ("FRESH BREAD", "OPEN DAILY 9-5", "SALE 50%", "PARKING")]
    for lines in reader.read(crops):
        assert lines, "the OCR read nothing: the test would prove nothing"
        scores = texts.scores([ln.text for ln in lines])
        assert fuse([], scores, 0.45, FusionConfig())[0] == UNKNOWN, (lines, scores)


def test_pipeline_names_a_wordmark_below_the_visual_threshold(tmp_path):
    image = DEMO / "images" / "composite_2.jpg"
    for brand in ("nvidia", "intel", "docker", "slack", "firefox", "netflix"):  # a small registry: quick to embed
        shutil.copytree(DEMO / "logos" / brand, tmp_path / brand)
    strict = dict(registry=tmp_path, min_sim=0.99)  # no visual match is this close
    plain = Pipeline.from_pretrained(**strict)(image)
    assert not plain.is_known.any()
    det = Pipeline.from_pretrained(**strict, text=True)(image)
    named = [r for r in det.to_records() if r["brand"] != UNKNOWN]
    assert [r["brand"] for r in named] == ["nvidia"], det.to_records()
    assert named[0]["similarity"] < 0.99 and named[0]["text_brand"] == "nvidia" and named[0]["text_score"] >= 0.9
    assert "nvidia" in normalize_text(named[0]["text"])
    json.dumps(det.to_records())  # the records stay JSON-ready


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []
    def refuse(kind):
        def f(*args, **kwargs):
            attempts.append([kind, repr(args)[:200]])
            raise OSError(f"network access blocked by test: {kind}")
        return f
    for name in ("getaddrinfo", "gethostbyname", "create_connection"):
        setattr(socket, name, refuse(name))
    socket.socket.connect = refuse("connect")
    socket.socket.connect_ex = refuse("connect_ex")
    import numpy as np, cv2
    from osld.text import TextReader
    img = np.full((60, 260, 3), 255, np.uint8)
    cv2.putText(img, "OFFLINE", (8, 45), cv2.FONT_HERSHEY_DUPLEX, 1.4, (0, 0, 0), 3, cv2.LINE_AA)
    lines = TextReader().read([img])[0]
    print(json.dumps({"attempts": attempts, "read": [ln.text for ln in lines]}))
    """
)


def test_ocr_loads_and_reads_with_the_network_blocked():
    proc = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["attempts"] == []
    assert normalize_text("".join(out["read"])) == "offline", out


def test_detect_has_a_text_flag():
    from typer.testing import CliRunner

    from osld.cli import app

    result = CliRunner().invoke(app, ["detect", "--help"])
    assert result.exit_code == 0 and "--text" in result.output
