"""The naming benchmark's measurements (``benchmarks/naming.py``): one registry size's matches for every photo
(``Setup``), and brand recall, false alarms and mAP@0.5 at an operating point, per registry or pooled."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from naming_data import brand_boxes_xyxy, half  # noqa: E402

from osld.boxes import box_iou  # noqa: E402
from osld.calibration import NamingDefaults, accept_threshold, calibrate, confidence, decide, frame_duel  # noqa: E402
from osld.eval.datasets import Sample  # noqa: E402
from osld.eval.metrics import evaluate_detections, match_detections  # noqa: E402
from osld.types import Detections  # noqa: E402

FA_TARGET = 0.02
# the per-region arrays of a photo row (``naming_data.photo_detections`` plus the matches ``Setup`` adds and the
# whole-image flag ``naming.py`` adds)
REGION_FIELDS = ("xyxy", "score", "emb", "brand", "sim", "margin", "frame")


def best_two(emb: np.ndarray, vectors: np.ndarray, starts: np.ndarray, names: np.ndarray, offsets: np.ndarray):
    """Best brand, its similarity and the margin to the best other brand, per region (row ``offsets`` added to
    the similarities, as the registry's search adds them)."""
    if len(emb) == 0:
        return np.zeros(0, object), np.zeros(0, np.float32), np.zeros(0, np.float32)
    per_brand = np.maximum.reduceat(emb @ vectors.T + offsets[None], starts, axis=1)
    top = np.argsort(-per_brand, axis=1)[:, :2]
    s1 = np.take_along_axis(per_brand, top[:, :1], 1)[:, 0]
    s2 = np.take_along_axis(per_brand, top[:, 1:2], 1)[:, 0] if per_brand.shape[1] > 1 else np.zeros_like(s1)
    return names[top[:, 0]], s1.astype(np.float32), (s1 - s2).astype(np.float32)


class Setup:
    """One registry size: its matches for every photo, its calibration, and the ground truth it implies."""

    def __init__(self, size: int, registered: list[str], vectors: np.ndarray, brands: np.ndarray, offsets: np.ndarray,
                 photos: list[dict], gt: dict[str, list[tuple[str, np.ndarray]]], neg_paths: set[str], embedder,
                 cache_dir: Path):
        self.size = size
        sel = np.isin(brands, registered)
        order = np.argsort(brands[sel], kind="stable")
        v, b, off = vectors[sel][order], brands[sel][order], offsets[sel][order]
        names, starts = np.unique(b, return_index=True)
        self.calibration = calibrate(v, b, embedder, cache_dir, off)
        reg = set(registered)
        self.rows = []
        for p in photos:
            brand, sim, margin = best_two(p["emb"], v, starts, names, off)
            boxes = [(br, bx) for br, bx in gt.get(p["path"], []) if br in reg]
            has_any = bool(gt.get(p["path"]))
            negative = p["path"] in neg_paths or (has_any and not boxes)
            self.rows.append(dict(p, brand=brand, sim=sim, margin=margin, gt=boxes, labels=gt.get(p["path"], []),
                                  negative=negative, positive=bool(boxes)))


def detections_of(row: dict, coef, proposal_conf: float, ranking: str = "logistic") -> tuple[Detections, np.ndarray]:
    """The regions of one photo above ``proposal_conf`` ranked by ``ranking``, and which of them is the whole image
    (kept beside the ``Detections``: its metadata is per photo and indexing would not slice a per-region array)."""
    keep = row["score"] >= proposal_conf
    score, sim, margin = row["score"][keep], row["sim"][keep], row["margin"][keep]
    if ranking == "logistic":
        conf = confidence(score, sim, margin, coef)
    elif ranking == "sqrt":
        conf = np.sqrt(score) * np.clip(sim, 0, None)
    elif ranking == "sim":
        conf = sim
    else:
        conf = score
    return Detections(row["xyxy"][keep], score, row["brand"][keep], sim, confidence=conf), row["frame"][keep]


def ranked_regions(d: Detections, frame: np.ndarray) -> Detections:
    """Every region of one photo named by its best brand, for mAP over the full ranking: the whole-image region
    (``frame``) and the boxes covering it count once, as ``decide`` reports them (``frame_duel``)."""
    return d[~frame_duel(d.xyxy, d.confidence, frame, np.ones(len(d), bool))] if frame.any() else d


def named_regions(d: Detections, frame: np.ndarray, accept: float, defaults: NamingDefaults,
                  ranking: str = "logistic") -> Detections:
    """The regions of one photo that the operating point gives a brand."""
    op = decide(d, accept, defaults.min_conf if ranking == "logistic" else -1.0, defaults.unknown_conf,
                named_only=frame)
    return op[op.is_known]


def false_names(setup: Setup, defaults: NamingDefaults) -> list[tuple[str, np.ndarray, str, float, float]]:
    """(photo, box, brand, similarity, confidence) of every region named in a photo without a registered brand."""
    accept = accept_threshold(setup.calibration, defaults.far, defaults.floor_sim)
    out = []
    for r in (r for r in setup.rows if r["negative"]):
        named = named_regions(*detections_of(r, defaults.coef, defaults.proposal_conf), accept, defaults)
        out += [(r["path"], named.xyxy[i], str(named.brand[i]), float(named.sim[i]), float(named.confidence[i]))
                for i in range(len(named))]
    return out


def unverifiable(d: Detections, row: dict) -> np.ndarray:
    """Regions of a brand photo that neither overlap a labelled box nor carry a labelled brand: the real sets label
    only some brands of a photo (a LogoDet-3K photo one), so such a name cannot be checked. Session 22 found the most
    confident of them at 5,000 brands right (a GAP sign, Uniqlo, Rolex crowns in photos labelled for another brand);
    Open Images ignores unverified classes the same way. Photos without labels keep every region."""
    if not row["labels"] or not len(d):
        return np.zeros(len(d), bool)
    labelled = brand_boxes_xyxy(row["labels"], row["width"], row["height"])
    off_boxes = box_iou(d.xyxy, labelled).max(axis=1) < 0.1
    return off_boxes & ~np.isin(d.brand.astype(str), [b for b, _ in row["labels"]])


def measure(setup: Setup, defaults: NamingDefaults, ranking: str = "logistic", accept: float | None = None
            ) -> dict:
    """Recall, false alarms and mAP of one registry size (rows already restricted to one half); ``map50_checkable``
    ranks only the regions whose names the labels can check (``unverifiable``)."""
    if accept is None:
        accept = accept_threshold(setup.calibration, defaults.far, defaults.floor_sim)
    samples, full, checkable, shown, n_gt, n_hit, n_neg, n_fa = [], [], [], [], 0, 0, 0, 0
    for r, sample, (d, frame) in _ranked(setup, defaults, ranking):
        samples.append(sample)
        ranked = ranked_regions(d, frame)
        full.append(ranked)
        checkable.append(ranked[~unverifiable(ranked, r)])
        named = named_regions(d, frame, accept, defaults, ranking)
        shown.append(named)
        if r["negative"]:
            n_neg += 1
            n_fa += bool(len(named))
        if r["positive"]:
            for br in set(sample.brands):
                m = np.array([g == br for g in sample.brands])
                pm = np.array([b == br for b in named.brand], bool)
                n_gt += int(m.sum())
                n_hit += int(match_detections(named.xyxy[pm], named.confidence[pm], sample.boxes[m]).sum())
    return {"recall": n_hit / max(n_gt, 1), "false_alarm": n_fa / max(n_neg, 1),
            "map50": evaluate_detections(samples, full)["map"],
            "map50_checkable": evaluate_detections(samples, checkable)["map"],
            # only the regions osld names: mAP above also ranks regions left `unknown`, where a brand with one box
            # can move from AP 1 to 0 by a name no user sees (session 25)
            "map50_named": evaluate_detections(samples, shown)["map"], "accept_sim": accept,
            "n_gt": n_gt, "n_negative_photos": n_neg}


def pooled(setups: list[Setup], defaults: NamingDefaults, ranking: str = "logistic", accept: float | None = None
           ) -> dict:
    """``measure`` over registries of one size (the 10-brand size has one registry per group of 10 evaluated
    brands, so that every evaluated box counts there too): counts add up, mAP and accept_sim are averaged."""
    ms = [measure(s, defaults, ranking, accept) for s in setups]
    n_gt, n_neg = sum(m["n_gt"] for m in ms), sum(m["n_negative_photos"] for m in ms)
    return {"recall": sum(m["recall"] * m["n_gt"] for m in ms) / max(n_gt, 1),
            "false_alarm": sum(m["false_alarm"] * m["n_negative_photos"] for m in ms) / max(n_neg, 1),
            "map50": float(np.mean([m["map50"] for m in ms])),
            "map50_checkable": float(np.mean([m["map50_checkable"] for m in ms])),
            "map50_named": float(np.mean([m["map50_named"] for m in ms])),
            "accept_sim": float(np.mean([m["accept_sim"] for m in ms])), "n_gt": n_gt, "n_negative_photos": n_neg,
            "registries": len(ms)}


def oracle(setups: list[Setup], defaults: NamingDefaults) -> dict:
    """Best recall of any single global similarity threshold (no confidence filter) with false alarms <= 2 %."""
    best = {"recall": 0.0, "accept_sim": None}
    for t in np.arange(0.40, 0.96, 0.01):
        m = pooled(setups, replace(defaults, min_conf=0.0), "logistic", accept=float(t))
        if m["false_alarm"] <= FA_TARGET and m["recall"] > best["recall"]:
            best = {"recall": m["recall"], "accept_sim": round(float(t), 2)}
    return best


def _ranked(setup: Setup, defaults: NamingDefaults, ranking: str = "logistic"
            ) -> list[tuple[dict, Sample, tuple[Detections, np.ndarray]]]:
    """(photo row, ground truth, (every region named by its best brand, whole-image flags)) of the rows the metrics
    read: photos with a registered brand and photos without one."""
    out = []
    for r in (r for r in setup.rows if r["positive"] or r["negative"]):
        gt_xyxy = brand_boxes_xyxy(r["gt"], r["width"], r["height"])
        out.append((r, Sample(Path(r["path"]), gt_xyxy, [br for br, _ in r["gt"]]),
                    detections_of(r, defaults.coef, defaults.proposal_conf, ranking)))
    return out


def paired_bootstrap(a: list[Setup], b: list[Setup], defaults_a: NamingDefaults, defaults_b: NamingDefaults,
                     n: int = 200, seed: int = 0, named_only: bool = False) -> dict:
    """mAP@0.5 of model pair ``b`` minus ``a`` (one registry size, its registries averaged as ``pooled`` does) on
    ``n`` resamples of the photos with replacement, the same photos for both: the difference on all photos, the
    95 % interval of the resampled ones and the share of resamples where ``b`` ranks better. With one to three
    boxes per brand, one box moving in the ranking moves a brand's AP by up to 1 and the mean by ~2 points; the
    interval says whether a difference outlasts that. ``named_only``: rank only the regions each pair names
    (``map50_named``)."""
    def ranked_of(setup: Setup, defaults: NamingDefaults) -> list[tuple[dict, Sample, Detections]]:
        rows = _ranked(setup, defaults)
        if not named_only:
            return [(r, sample, ranked_regions(*regions)) for r, sample, regions in rows]
        accept = accept_threshold(setup.calibration, defaults.far, defaults.floor_sim)
        return [(r, sample, named_regions(*regions, accept, defaults)) for r, sample, regions in rows]

    ranked = {"a": [ranked_of(s, defaults_a) for s in a], "b": [ranked_of(s, defaults_b) for s in b]}
    paths = sorted({r["path"] for reg in ranked["a"] for r, _, _ in reg})
    index = {p: i for i, p in enumerate(paths)}

    def mean_map(which: str, counts: np.ndarray) -> float:
        maps = []
        for reg in ranked[which]:
            picked = [(sample, det) for r, sample, det in reg for _ in range(counts[index[r["path"]]])]
            maps.append(evaluate_detections([x for x, _ in picked], [d for _, d in picked])["map"])
        return float(np.mean(maps))

    ones = np.ones(len(paths), int)
    rng = np.random.default_rng(seed)
    diffs = np.array([mean_map("b", c) - mean_map("a", c) for c in
                      (np.bincount(rng.integers(0, len(paths), len(paths)), minlength=len(paths)) for _ in range(n))])
    return {"diff": mean_map("b", ones) - mean_map("a", ones), "low": float(np.percentile(diffs, 2.5)),
            "high": float(np.percentile(diffs, 97.5)), "p_better": float((diffs > 0).mean())}


def _keep_rows(setup: Setup, keep, change=None) -> Setup:
    """The same registry and calibration, with only the photo rows ``keep(row)`` accepts (as ``change(row)``)."""
    s = object.__new__(Setup)
    s.__dict__.update(setup.__dict__)
    s.rows = [change(r) if change else r for r in setup.rows if keep(r)]
    return s


def subset(setup: Setup, which: str) -> Setup:
    return _keep_rows(setup, lambda r: half(Path(r["path"])) == which)


def part(setup: Setup, cars: bool) -> Setup:
    """The setup with the brand photos of one part only (car emblems or the real scene photos); photos without a
    registered brand stay in both, so false alarms read the same."""
    return _keep_rows(setup, lambda r: not r["positive"] or ("vehicle_logos" in r["path"]) == cars)
