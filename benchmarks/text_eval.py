"""Measure text as a second matching signal (issue 20) on real photos no model here was trained on.

    python benchmarks/text_eval.py --shared ../shared --out work/text_eval [--distractors 2500]

Val side of ``real/logodet3k_clothes`` and ``real/beerjp`` (``split_by_hash(..., 0.2)[1]``, the project's split).
Registry: each val brand's canonical image(s) from ``data/logos`` where the name matches, else up to 3 crops from
train-side photos; plus ``--distractors`` other brands from ``data/logos``. The pipeline runs once with text on;
the OCR reads and brand text scores are recorded, so every fusion rule is replayed offline. Val images are halved
by file-name hash: the rule is chosen on the tuning half and reported on the other half.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import typer
from PIL import Image

from osld.data.yolo import cxcywh_to_xyxy, list_images, read_brand_labels, split_by_hash
from osld.eval.metrics import box_iou, normalize_brand
from osld.pipeline import Pipeline
from osld.registry import validate_brand
from osld.text import FusionConfig, TextMatcher, fuse, join_lines, normalize_text
from osld.types import UNKNOWN

SETS = ("logodet3k_clothes", "beerjp")


def canonical(brand: str) -> str:
    """Dataset class -> brand folder: LogoDet's logo versions (``new_balance_1``/``_2``) are one brand, and its
    ``the_timberland`` class is Timberland."""
    brand = re.sub(r"_\d+$", "", brand)
    return "timberland" if brand == "the_timberland" else brand


def read_gt(img: Path) -> tuple[np.ndarray, list[str]]:
    w, h = Image.open(img).size
    labels = read_brand_labels(img)
    boxes = cxcywh_to_xyxy(np.array([box for _, box in labels], np.float32).reshape(-1, 4), w, h)
    return boxes, [canonical(b) for b, _ in labels]


def build_registry(shared: Path, out: Path, n_distractors: int) -> tuple[list[Path], dict[str, str]]:
    logos = shared / "data" / "logos"
    with open(logos / "manifest.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    val, train = [], []
    for name in SETS:
        tr, va = split_by_hash(list_images(shared / "data" / "real" / name / "images"), 0.2)
        val += va
        train += tr
    brands = sorted({b for p in val for b in read_gt(p)[1]})
    keys = {normalize_text(b.replace("_", " ")): b for b in brands}
    source: dict[str, str] = {}
    reg = out / "registry"
    if reg.exists():
        return val, json.loads((out / "registry_sources.json").read_text())
    tmp = out / "registry.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for r in rows:  # canonical images of the val brands
        b = keys.get(normalize_text(r["brand"])) or keys.get(normalize_text(r["brand_name"]))
        if b is None or ((tmp / b).exists() and len(list((tmp / b).iterdir())) >= 2):
            continue
        (tmp / b).mkdir(parents=True, exist_ok=True)
        shutil.copy(logos / r["path"], tmp / b / f"{r['source']}_{Path(r['path']).name}")
        source[b] = "canonical"
    for b in brands:  # else crops from train-side photos
        if b in source:
            continue
        n = 0
        for p in train:
            if n >= 3:
                break
            boxes, bb = read_gt(p)
            for box, name in zip(boxes, bb, strict=True):
                if name == b and n < 3 and min(box[2] - box[0], box[3] - box[1]) >= 16:
                    (tmp / b).mkdir(parents=True, exist_ok=True)
                    Image.open(p).convert("RGB").crop(tuple(int(v) for v in box)).save(tmp / b / f"{p.stem}_{n}.png")
                    n += 1
        source[b] = "train crops" if n else "none"
    taken = set(keys)
    order = sorted(rows, key=lambda r: hashlib.sha1(r["slug"].encode()).hexdigest())
    for r in order:
        if sum(v == "distractor" for v in source.values()) >= n_distractors:
            break
        key = normalize_text(r["brand_name"])
        try:
            name = validate_brand(r["brand_name"])
        except Exception:
            continue
        if not key or key in taken:
            continue
        taken.add(key)
        (tmp / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(logos / r["path"], tmp / name / Path(r["path"]).name)
        source[name] = "distractor"
    tmp.rename(reg)
    (out / "registry_sources.json").write_text(json.dumps(source, indent=1))
    return val, source


class Recorder(TextMatcher):
    """Keeps every region's read and brand text scores, in order, for the offline replay: those of all lines
    (``auto``) and those of the whole-crop read alone (what ``mode="rec"`` would have seen)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, dict[str, float], dict[str, float]]] = []

    def read_and_score(self, crops, texts):
        out = []
        for lines in self.reader.read(crops):
            reads = [ln.text for ln in lines]
            crop_only = [ln.text for ln in lines if ln.how == "crop"]
            out.append((join_lines(lines), texts.scores(reads)))
            self.log.append((out[-1][0], out[-1][1], texts.scores(crop_only)))
        return out


def run(val: list[Path], out: Path) -> list[dict]:
    raw_path = out / "raw.json"
    if raw_path.exists():
        return json.loads(raw_path.read_text())
    rec = Recorder()
    pipe = Pipeline.from_pretrained(registry=out / "registry", threads=2, text=rec)
    pipe.registry.sync(progress=True)
    plain = Pipeline(pipe.detector, pipe.embedder, pipe.registry, pipe.match)
    records = []
    for p in val:
        t0 = time.perf_counter()
        plain(p)
        t1 = time.perf_counter()
        n0 = len(rec.log)
        det = pipe(p)
        t2 = time.perf_counter()
        assert len(rec.log) - n0 == len(det)  # every region was read (no region is below min_crop_px here)
        boxes, brands = read_gt(p)
        records.append({"image": str(p), "ms_visual": 1000 * (t1 - t0), "ms_text": 1000 * (t2 - t1),
                        "gt_boxes": boxes.tolist(), "gt_brands": brands,
                        "dets": [{"box": det.xyxy[i].tolist(), "alts": det.alternatives[i], "text": r[0],
                                  "scores": r[1], "scores_rec": r[2]} for i, r in enumerate(rec.log[n0:])]})
    raw_path.write_text(json.dumps(records))
    return records


def score(records: list[dict], min_sim: float, cfg: FusionConfig | None, key: str = "scores") -> dict:
    """Brand recall over GT boxes, wrong-brand rate over named detections on a GT box, named detections off
    any GT box (unannotated logos or false names: the GT is partial)."""
    n_gt = hit = named_on = wrong = off = 0
    how_counts: dict[str, int] = {}
    for r in records:
        gt = np.array(r["gt_boxes"], np.float32).reshape(-1, 4)
        n_gt += len(gt)
        names = []
        for d in r["dets"]:
            alts = [tuple(a) for a in d["alts"]]
            if cfg is None:
                b = alts[0][0] if alts and alts[0][1] >= min_sim else UNKNOWN
            else:
                b, how = fuse(alts, d[key], min_sim, cfg)
                how_counts[how] = how_counts.get(how, 0) + 1
            names.append(b)
        boxes = np.array([d["box"] for d in r["dets"]], np.float32).reshape(-1, 4)
        iou = box_iou(boxes, gt) if len(boxes) and len(gt) else np.zeros((len(boxes), len(gt)))
        for g, gb in enumerate(r["gt_brands"]):
            if any(iou[i, g] >= 0.5 and normalize_brand(names[i]) == normalize_brand(gb) for i in range(len(names))):
                hit += 1
        for i, b in enumerate(names):
            if b == UNKNOWN:
                continue
            on = [g for g in range(len(gt)) if iou[i, g] >= 0.5]
            if on:
                named_on += 1
                wrong += all(normalize_brand(b) != normalize_brand(r["gt_brands"][g]) for g in on)
            else:
                off += 1
    return {"gt_boxes": n_gt, "brand_recall": hit / max(n_gt, 1), "named_on_gt": named_on,
            "wrong_brand_rate": wrong / max(named_on, 1), "wrong": wrong, "named_off_gt": off, "how": how_counts}


def main(shared: Path = typer.Option(Path("../shared")), out: Path = typer.Option(Path("work/text_eval")),
         distractors: int = typer.Option(2500)) -> None:
    out.mkdir(parents=True, exist_ok=True)
    val, source = build_registry(shared, out, distractors)
    kinds = {k: sum(v == k for v in source.values()) for k in set(source.values())}
    print(f"{len(val)} val images; registry brands: {kinds}")
    records = run(val, out)
    min_sim = Pipeline.from_pretrained().match.min_sim
    half = [int(hashlib.sha1(Path(r["image"]).name.encode()).hexdigest(), 16) % 2 for r in records]
    tune = [r for r, h in zip(records, half, strict=True) if h == 0]
    test = [r for r, h in zip(records, half, strict=True) if h == 1]
    grid = [FusionConfig(*v) for v in itertools.product((0.6, 0.7, 0.8, 0.9), (0.02, 0.05, 0.1),
                                                        (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
                                                        (0.8, 0.85, 0.9, 0.95, 1.0, 1.01))]

    def objective(s: dict) -> float:  # right names gained minus wrong names (on and off GT) added
        return s["brand_recall"] * s["gt_boxes"] - s["wrong"] - 0.5 * s["named_off_gt"]

    def strictness(c: FusionConfig) -> float:  # among equally good rules, the one that trusts text least
        return c.t_tie + c.t_name + c.t_override - c.margin

    best = max(grid, key=lambda c: (objective(score(tune, min_sim, c)), strictness(c)))
    best_rec = max(grid, key=lambda c: (objective(score(tune, min_sim, c, "scores_rec")), strictness(c)))
    report = {"min_sim": min_sim, "chosen": best.__dict__, "chosen_rec_only": best_rec.__dict__,
              "n_images": {"tune": len(tune), "test": len(test)},
              "registry": kinds,
              "ms_per_image": {"visual": float(np.mean([r["ms_visual"] for r in records])),
                               "with_text": float(np.mean([r["ms_text"] for r in records]))}}
    for name, part in (("tune", tune), ("test", test), ("all", records)):
        report[name] = {"visual": score(part, min_sim, None), "text_default": score(part, min_sim, FusionConfig()),
                        "text_chosen": score(part, min_sim, best),
                        "text_chosen_rec_only": score(part, min_sim, best_rec, "scores_rec")}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    typer.run(main)
