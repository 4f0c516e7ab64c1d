"""Naming decisions: one calibrated ``confidence`` per region and a registry-aware accept threshold.

Two parts, both driven by numbers that live in one file, ``weights/naming.json`` (re-tuned by
``benchmarks/naming.py`` whenever the weights change):

- ``confidence``: a logistic model over ``[log detector score, best similarity, margin to the best other brand]``
  fitted on tuning photos; it is the probability that the region is the named brand and ranks detections
  everywhere (evaluation, CSV, summary). Regions left ``unknown`` keep the detector score as their confidence.
- Registry calibration (``calibrate``, run by ``Registry.sync`` when the index changes): the shipped impostor
  crops (``osld/negatives/``: non-logo regions and logos of brands outside the registry) are embedded and their
  best similarity to the registry is kept as the impostor distribution; ``accept_threshold(far)`` is the
  similarity that only a fraction ``far`` of impostors reach. A registry of 5,000 brands has more near
  neighbours for any crop than one of 10, so its threshold comes out higher: one global cosine cannot serve both.

Per-brand thresholds are not estimated: a few hundred negatives cannot resolve a per-brand tail of 1 %, and the
max-over-brands quantile already bounds the false-accept rate over the whole registry.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from osld._io import atomic_write_bytes
from osld.boxes import box_area, box_intersection, box_iou

log = logging.getLogger("osld")

NEGATIVES_DIR = Path(__file__).resolve().parent / "negatives"
NAMING_FILE = "naming.json"
CALIBRATION_VERSION = 1
_MEMO: dict[str, np.ndarray] = {}


@dataclass(frozen=True)
class NamingDefaults:
    """Tuned naming defaults (``weights/naming.json``; these field defaults apply when the file is absent).

    Attributes:
        proposal_conf: detector score threshold: low, so that the matcher and ``confidence`` decide.
        unknown_conf: detector score above which an unmatched region is reported as ``unknown``.
        min_conf: ``confidence`` a region needs to be reported with a brand.
        far: target false-accept rate of the registry threshold.
        floor_sim: the accept threshold never goes below this similarity (tiny registries).
        coef: logistic weights for ``[log score, sim, margin]`` and the bias.
        frame_score: the detector score given to the whole image as one more region, added when no detected box
            covers it (IoU < 0.5): a logo that fills the frame (a close-up, a product shot, a logo crop) is then
            matched even when the detector misses it, and named only on strong match evidence. None: off.
        min_side_px: a region whose shorter side is under this many pixels (of the image as the pipeline decodes
            it) is not embedded, so never named: scaled up to the embedder's input, such a crop is a blur that
            matches logos of simple shapes (session 22: a green blob named as a circle logo at 0.71). 0: only
            ``MatchConfig.min_crop_px`` applies.
    """

    proposal_conf: float = 0.02
    unknown_conf: float = 0.25
    min_conf: float = 0.2
    far: float = 0.05
    floor_sim: float = 0.45
    coef: tuple[float, float, float, float] = (0.8, 10.5, 4.3, -8.4)  # as tuned for the weights of 2026-11-30
    frame_score: float | None = None
    min_side_px: int = 0

    @classmethod
    def load(cls, weights_dir: str | Path | None) -> NamingDefaults:
        """The defaults stored beside the weights, or the built-in ones when there is no ``naming.json``."""
        path = Path(weights_dir) / NAMING_FILE if weights_dir else None
        if path is None or not path.exists():
            return cls()
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        values = {k: (tuple(v) if k == "coef" else v) for k, v in data.items() if k in known}
        return replace(cls(), **values)

    @classmethod
    def beside(cls, embedder: object) -> NamingDefaults:
        """The defaults stored beside an embedder's ONNX file (built-ins for an embedder without a file)."""
        emb_file = getattr(embedder, "path", None)
        return cls.load(Path(emb_file).parent if emb_file else None)

    def save(self, weights_dir: str | Path, **extra: Any) -> Path:
        """Write ``naming.json`` (``extra`` keys such as the measurement it came from are kept for the record)."""
        data = {**asdict(self), "coef": list(self.coef), **extra}
        return atomic_write_bytes(Path(weights_dir) / NAMING_FILE, json.dumps(data, indent=1).encode())


def features(score: np.ndarray, sim: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """(n, 3) logistic inputs; NaN similarities (no match) count as 0."""
    score = np.clip(np.asarray(score, np.float64), 1e-4, 1.0)
    sim = np.nan_to_num(np.asarray(sim, np.float64), nan=0.0)
    margin = np.nan_to_num(np.asarray(margin, np.float64), nan=0.0)
    return np.stack([np.log(score), sim, margin], axis=1)


def confidence(score: np.ndarray, sim: np.ndarray, margin: np.ndarray,
               coef: tuple[float, float, float, float]) -> np.ndarray:
    """float32 (n,) probability that each region is its best-matching brand."""
    w = np.asarray(coef[:3], np.float64)
    z = features(score, sim, margin) @ w + coef[3]
    return (1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))).astype(np.float32)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50) -> tuple[float, ...]:
    """Weights and bias of an L2-regularized logistic regression by Newton's method (3 features: a few lines of
    numpy instead of a scikit-learn dependency)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -40, 40)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return tuple(float(v) for v in w)


# ---------- the shipped impostor set ----------
def negative_files() -> list[Path]:
    return sorted(NEGATIVES_DIR.glob("*.jpg"))


def _negative_brand(path: Path) -> str | None:
    """``logo_<brand>_<n>.jpg`` shows <brand>; other crops show no logo."""
    parts = path.stem.split("_")
    return "_".join(parts[1:-1]) if parts[0] == "logo" else None


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def negative_embeddings(embedder: Any, cache_dir: Path | None = None) -> tuple[np.ndarray, list[str | None]]:
    """Embeddings of the shipped negatives and the brand each shows (None: no logo).

    Cached in ``cache_dir/negatives.npz`` under the embedder fingerprint and the file list, so a new embedder
    or a changed negative set re-embeds them.
    """
    from osld.data.images import load_image

    files = negative_files()
    tag = hashlib.sha256((embedder.fingerprint + "|" + "|".join(f.name for f in files)).encode()).hexdigest()
    cache = Path(cache_dir) / "negatives.npz" if cache_dir else None
    brands = [_negative_brand(f) for f in files]
    if tag in _MEMO:  # one embedding per process and embedder, however many registries it opens
        return _MEMO[tag], brands
    if cache is not None and cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if str(z["tag"]) == tag:
                    _MEMO[tag] = z["emb"].astype(np.float32)
                    return _MEMO[tag], brands
        except (OSError, ValueError, KeyError):
            log.warning("negatives cache %s unreadable; re-embedding", cache)
    emb = embedder.embed([load_image(f).pixels for f in files]) if files else np.zeros((0, embedder.dim), np.float32)
    _MEMO[tag] = emb
    if cache is not None:
        buf = io.BytesIO()
        np.savez(buf, tag=np.array(tag), emb=emb.astype(np.float32))
        atomic_write_bytes(cache, buf.getvalue())
    return emb, brands


def impostor_scores(vectors: np.ndarray, row_brands: np.ndarray, neg_emb: np.ndarray,
                    neg_brands: list[str | None], row_offsets: np.ndarray | None = None) -> np.ndarray:
    """Best similarity of each negative to the registry, excluding a negative whose own brand is registered
    (it is then a genuine match, not an impostor); ``row_offsets`` as the search adds them."""
    if len(vectors) == 0 or len(neg_emb) == 0:
        return np.zeros(0, np.float32)
    registered = {_key(str(b)) for b in set(row_brands.tolist())}
    keep = np.array([b is None or _key(b) not in registered for b in neg_brands], bool)
    sims = neg_emb[keep] @ np.asarray(vectors, np.float32).T
    if row_offsets is not None:
        sims += row_offsets[None]
    return sims.max(axis=1).astype(np.float32) if sims.size else np.zeros(0, np.float32)


def calibrate(vectors: np.ndarray, row_brands: np.ndarray, embedder: Any, cache_dir: Path | None = None,
              row_offsets: np.ndarray | None = None) -> dict[str, Any]:
    """The manifest's ``calibration`` entry for a registry: its impostor similarities, highest first."""
    neg_emb, neg_brands = negative_embeddings(embedder, cache_dir)
    scores = np.sort(impostor_scores(vectors, row_brands, neg_emb, neg_brands, row_offsets))[::-1]
    return {"version": CALIBRATION_VERSION, "embedder": embedder.fingerprint, "n_impostors": int(len(scores)),
            "impostor_sims": [round(float(s), 5) for s in scores]}


def accept_threshold(calibration: dict[str, Any] | None, far: float, floor: float) -> float:
    """Similarity above which at most a fraction ``far`` of impostors fall (never below ``floor``)."""
    if not calibration or not calibration.get("impostor_sims"):
        return floor
    sims = np.asarray(calibration["impostor_sims"], np.float64)
    # the k-th highest impostor with k = far * n: accepting strictly above it lets through at most far * n
    k = int(np.floor(far * len(sims)))
    thr = float(sims[min(k, len(sims) - 1)]) + 1e-6
    return max(floor, thr)


def calibration_current(calibration: dict[str, Any] | None, embedder: Any) -> bool:
    """A stored calibration is reusable: same format, same embedder."""
    return bool(calibration) and calibration.get("version") == CALIBRATION_VERSION and \
        calibration.get("embedder") == embedder.fingerprint


def decide(det: Any, accept_sim: float, min_conf: float, unknown_conf: float,
           forced: np.ndarray | None = None, named_only: np.ndarray | None = None) -> Any:
    """Apply the operating thresholds to ``Detections`` whose every region carries its best brand (the
    ``MatchConfig(keep_all=True)`` output): a region keeps its brand when ``sim >= accept_sim`` and
    ``confidence >= min_conf``, else it becomes ``unknown`` with its detector score as confidence, and is
    reported only when that score reaches ``unknown_conf``. ``forced`` (bool, n) marks regions whose name was
    already decided (by text evidence): they keep brand and confidence. ``named_only`` (bool, n) marks regions
    reported only when named (the whole-image region: not a detection); such a region and the shown boxes that
    cover it (``frame_duel``) name one logo, and only the more confident is reported. Sorted by confidence,
    highest first."""
    from osld.types import UNKNOWN, Detections

    sim = np.nan_to_num(det.sim, nan=-np.inf)
    named = det.is_known & (sim >= accept_sim) & (det.confidence >= min_conf)
    if forced is not None:
        named |= forced & det.is_known
    brand = np.where(named, det.brand, UNKNOWN).astype(object)
    conf = np.where(named, det.confidence, det.score).astype(np.float32)
    out = Detections(det.xyxy, det.score, brand, det.sim, det.emb, det.alternatives, dict(det.metadata),
                     text=det.text, confidence=conf)
    shown = named | ((det.score >= unknown_conf) & (True if named_only is None else ~named_only))
    shown &= ~_nested_duplicates(det.xyxy, brand, named, conf)
    if named_only is not None:
        shown &= ~frame_duel(det.xyxy, conf + named, named_only, shown)  # a name beats an unknown box
    keep = np.nonzero(shown)[0]
    return out[keep[np.argsort(-conf[keep], kind="stable")]]


def _nested_duplicates(xyxy: np.ndarray, brand: np.ndarray, named: np.ndarray, conf: np.ndarray,
                       cover: float = 0.8) -> np.ndarray:
    """Named regions that repeat a more confident region of the same brand: one of the two boxes lies (``cover``
    of its area) inside the other. The detector's class-agnostic NMS keeps such pairs when their IoU is under its
    threshold, e.g. a partly hidden logo's visible part and a faint box around the whole logo; one logo must not
    count twice (two tracks in a video, two hits in a report)."""
    drop = np.zeros(len(xyxy), bool)
    idx = np.nonzero(named)[0]
    if len(idx) < 2:
        return drop
    boxes = xyxy[idx]
    inter = box_intersection(boxes, boxes)
    area = box_area(boxes)
    nested = inter >= cover * np.maximum(np.minimum(area[:, None], area[None, :]), 1e-9)
    same = brand[idx][:, None] == brand[idx][None, :]
    for a in np.argsort(-conf[idx], kind="stable"):
        if drop[idx[a]]:
            continue
        worse = nested[a] & same[a] & (conf[idx] < conf[idx[a]])
        drop[idx[worse]] = True
    return drop


def frame_duel(xyxy: np.ndarray, conf: np.ndarray, frame: np.ndarray, eligible: np.ndarray,
               cover_iou: float = 0.5) -> np.ndarray:
    """Rows to drop where a whole-image region (``frame``) and ``eligible`` boxes covering it (IoU >= ``cover_iou``)
    stand for one logo: the frame when a covering box is more confident, else the covering boxes.

    Why both are embedded: on the naming benchmark's car-emblem close-ups a detector box covered the frame on 64
    of 108 photos, and the whole-image crop named 51 of those right where the box named 41 (session 35): the
    detector's box is often a part of the emblem; letting the two compete named 51 (55 of 69 with session 34's
    detector).
    """
    drop = np.zeros(len(xyxy), bool)
    for i in np.nonzero(frame & eligible)[0]:
        cover = eligible & ~frame & (box_iou(xyxy[i: i + 1], xyxy)[0] >= cover_iou)
        if not cover.any():
            continue
        if conf[i] >= conf[cover].max():
            drop |= cover
        else:
            drop[i] = True
    return drop
