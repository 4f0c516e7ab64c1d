"""detect -> crop -> embed -> search -> decide. ``Pipeline`` is what ``osld detect`` and the Python API run."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from osld.calibration import NamingDefaults, accept_threshold, confidence, decide
from osld.data.images import LoadedImage, load_image
from osld.detector import Detector, load_detector
from osld.embedder import Embedder, load_embedder
from osld.errors import ConfigError, ModelLoadError, OsldError, RegistryMismatchError
from osld.registry import Registry
from osld.types import UNKNOWN, Detections

if TYPE_CHECKING:
    from osld.text import TextMatcher

log = logging.getLogger("osld")

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def default_weights_dir() -> Path:
    """``weights/`` of the source checkout (editable install), or ``osld/weights`` inside an installed package."""
    for candidate in (WEIGHTS_DIR, Path(__file__).resolve().parent / "weights"):
        if (candidate / "detector.onnx").exists():
            return candidate
    raise ModelLoadError(f"no shipped weights found in {WEIGHTS_DIR}; pass detector= and embedder= paths")


@dataclass(frozen=True)
class MatchConfig:
    """How regions are named.

    Thresholds left at None come from ``weights/naming.json`` (``osld.calibration.NamingDefaults``).

    Attributes:
        min_sim: explicit cosine similarity below which a region is ``unknown``; None: the registry's calibrated
            accept threshold for the false-accept rate ``far``.
        far: target share of impostor regions (no registered brand) that may still be named.
        min_conf: ``confidence`` a named region needs; below it (and below ``unknown_conf``) it is dropped.
        unknown_conf: detector score an unmatched region needs to be reported as ``unknown``.
        keep_all: evaluation mode: every proposal is kept and named by its best brand, ranked by ``confidence``
            (the full precision-recall curve); ``decide`` then applies the thresholds.
        top_k: brands kept per region (the best is ``brand``, all are ``alternatives``).
        crop_margin: fraction of the box size added on each side before embedding, from the photo. Measured
            end to end (``benchmarks/naming.py``, session 17): tight crops name real scene logos best (mAP@0.5
            +2 to +4 points over 0.1), as surrounding clutter is unlike the plain margin of canonical images.
        border_pad: fraction of the box size added, in replicated border pixels, on a box side that lies on the
            image border: a frame-filling or cut-off logo then gets the plain margin canonical images have
            (car-emblem close-ups: mAP@0.5 +1 to +7 points).
        min_crop_px: boxes smaller than this (either side, in the pixels of the image as decoded) are kept but
            not embedded; ``NamingDefaults.min_side_px`` may raise it.
        frame_score: overrides ``NamingDefaults.frame_score`` (the whole image as one more region); 0 turns it off.
    """

    min_sim: float | None = None
    far: float | None = None
    min_conf: float | None = None
    unknown_conf: float | None = None
    keep_all: bool = False
    top_k: int = 5
    crop_margin: float = 0.0
    border_pad: float = 0.05
    min_crop_px: int = 4
    frame_score: float | None = None

    def __post_init__(self) -> None:
        if self.far is not None and not 0.0 < self.far < 1.0:
            raise ConfigError(f"far must be in (0, 1), got {self.far}")
        if self.min_sim is not None and not -1.0 <= self.min_sim <= 1.0:
            raise ConfigError(f"min_sim must be in [-1, 1], got {self.min_sim}")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.frame_score is not None and not 0.0 <= self.frame_score <= 1.0:
            raise ConfigError(f"frame_score must be in [0, 1], got {self.frame_score}")
        for name in ("crop_margin", "border_pad"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def crops(self, image: np.ndarray, xyxy: np.ndarray) -> list[np.ndarray]:
        """The regions at ``xyxy`` cut as they are embedded (``crop_margin``, ``border_pad``)."""
        return crop_regions(image, xyxy, self.crop_margin, self.border_pad)


@dataclass
class Result:
    """One input of ``Pipeline.run``: ``detections`` is None exactly when ``error`` says why."""

    path: Path
    detections: Detections | None
    error: str | None = None
    image: LoadedImage | None = None  # the decoded pixels, when ``run(keep_images=True)``


def embeddable(xyxy: np.ndarray, match: MatchConfig, naming: NamingDefaults) -> np.ndarray:
    """Rows of ``xyxy`` (pixels of the image as decoded) that get an embedding: both sides at least
    ``match.min_crop_px`` and ``naming.min_side_px``; smaller boxes are kept but not embedded."""
    sides = xyxy[:, 2:] - xyxy[:, :2]
    return np.nonzero((sides >= max(match.min_crop_px, naming.min_side_px)).all(axis=1))[0]


def with_whole_frame(det: Detections, width: int, height: int, score: float) -> Detections:
    """``det`` plus the whole image as one more box (the last row) scored ``score``.

    Why: a logo that fills the frame (a close-up, a product shot, a logo crop) is the case the detector misses
    most (session 18: no proposal at IoU >= 0.5 on 43 % of the car-emblem close-ups of ``benchmarks/naming.py``),
    while the embedder names such crops best; the low score leaves the decision to the match evidence. It is added
    even where a box covers it: that box is often a part of the logo, and ``calibration.decide`` keeps only the
    more confident of the two.
    """
    frame = np.array([[0.0, 0.0, width, height]], np.float32)
    return Detections(np.concatenate([det.xyxy, frame]), np.append(det.score, np.float32(score)),
                      metadata=dict(det.metadata))


def whole_frame_rows(xyxy: np.ndarray, score: np.ndarray, width: float, height: float, frame_score: float
                     ) -> np.ndarray:
    """Rows that are the region ``with_whole_frame`` added: the full image (within 1 px, as boxes found at a reduced
    decoding size are scaled back) scored exactly ``frame_score``, which no detector box is."""
    return (score == np.float32(frame_score)) & (np.abs(xyxy - [0, 0, width, height]).max(axis=1) < 1)


def crop_regions(image: np.ndarray, xyxy: np.ndarray, margin: float, border_pad: float = 0.0,
                 border_tol: float = 2.0) -> list[np.ndarray]:
    """Crops of ``image`` (h, w, 3) at ``xyxy`` boxes (same pixel frame) grown by ``margin`` on each side (clipped
    to the image). A box side within ``border_tol`` pixels of the image border is instead grown by ``border_pad``
    of the box size in replicated border pixels."""
    h, w = image.shape[:2]
    crops = []
    for x1, y1, x2, y2 in xyxy:
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        a, b = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
        c, d = int(min(w, np.ceil(x2 + mx))), int(min(h, np.ceil(y2 + my)))
        crop = image[b: max(d, b + 1), a: max(c, a + 1)]
        if border_pad > 0:
            px, py = int(round((x2 - x1) * border_pad)), int(round((y2 - y1) * border_pad))
            sides = (py * (y1 <= border_tol), py * (y2 >= h - border_tol), px * (x1 <= border_tol),
                     px * (x2 >= w - border_tol))
            if any(sides):
                crop = cv2.copyMakeBorder(crop, *(int(v) for v in sides), cv2.BORDER_REPLICATE)
        crops.append(crop)
    return crops


class Pipeline:
    """The open-set logo detection pipeline.

    Args:
        detector: proposes class-agnostic logo boxes.
        embedder: embeds each region.
        registry: canonical logos to match against (a ``Registry`` or a folder path). Without one every region is
            ``unknown``.
        match: naming thresholds.
        max_side: decode large JPEGs at reduced size (longest side >= this); boxes are still reported in
            original pixels.
        text: also read the words in each region and fuse them with the visual match (``osld.text``; True for
            the defaults, or a ``TextMatcher``). Needs the ``[text]`` extra.

    Example:
        >>> pipe = Pipeline.from_pretrained(registry="datasets/demo/logos")
        >>> dets = pipe("photo.jpg")
        >>> dets.brand, dets.xyxy
    """

    def __init__(self, detector: Detector, embedder: Embedder, registry: Registry | str | Path | None = None,
                 match: MatchConfig | None = None, max_side: int | None = 1024, text: bool | TextMatcher = False,
                 naming: NamingDefaults | None = None):
        self.detector = detector
        self.naming = naming or NamingDefaults.beside(embedder)
        self.embedder = embedder
        if registry is not None and not isinstance(registry, Registry):
            registry = Registry(registry, embedder)
        if registry is not None and registry.embedder is None:
            registry.embedder = embedder
        if registry is not None and registry.embedder.fingerprint != embedder.fingerprint:
            raise RegistryMismatchError(f"registry {registry.root} uses embedder {registry.embedder.fingerprint[:12]} "
                                        f"but the pipeline embeds with {embedder.fingerprint[:12]}; pass the same one")
        self.registry = registry
        self.match = match or MatchConfig()
        self.max_side = max_side
        if text is True:
            from osld.text import TextMatcher
            text = TextMatcher()
        self.text = text or None

    @classmethod
    def from_pretrained(cls, registry: Registry | str | Path | None = None, detector: str | Path | None = None,
                        embedder: str | Path | None = None, device: str = "auto", conf: float | None = None,
                        threads: int | None = None, binary: bool = False, imgsz: int | None = None, tile: int = 1,
                        text: bool | TextMatcher = False, **match_kwargs) -> Pipeline:
        """The shipped ONNX models (``weights/``), or the given ONNX files, with a registry folder.

        ``imgsz`` and ``tile`` go to the detector (``OnnxDetector``); ``text`` as in ``Pipeline``; other keywords
        to ``MatchConfig``.
        """
        weights = None if detector and embedder else default_weights_dir()
        emb_path = Path(embedder or weights / "embedder.onnx")
        # tuned thresholds live beside the embedder they were tuned for; a foreign embedder gets the built-ins
        naming = NamingDefaults.load(emb_path.parent)
        det = load_detector(detector or weights / "detector.onnx", conf=naming.proposal_conf if conf is None else conf,
                            device=device, threads=threads, imgsz=imgsz, tile=tile)
        emb = load_embedder(emb_path, device=device, threads=threads)
        if registry is not None and not isinstance(registry, Registry):
            registry = Registry(registry, emb, binary=binary)
        return cls(det, emb, registry, MatchConfig(**{k: v for k, v in match_kwargs.items() if v is not None}),
                   text=text, naming=naming)

    def frame_score(self) -> float:
        """The score the whole-image region gets (0: not added): ``MatchConfig`` override, else ``naming.json``."""
        return self.naming.frame_score if self.match.frame_score is None else self.match.frame_score

    def thresholds(self) -> tuple[float, float, float]:
        """``(accept similarity, min confidence, unknown score)`` in force: ``MatchConfig`` overrides, else the
        registry's calibrated threshold at ``far`` and the tuned defaults."""
        m, n = self.match, self.naming
        calib = self.registry.calibration if self.registry is not None else None
        accept = m.min_sim if m.min_sim is not None else accept_threshold(calib, m.far or n.far, n.floor_sim)
        return (accept, n.min_conf if m.min_conf is None else m.min_conf,
                n.unknown_conf if m.unknown_conf is None else m.unknown_conf)

    # ---------- core ----------
    def process(self, images: list[np.ndarray], refresh_registry: bool = True) -> list[Detections]:
        """RGB uint8 images -> ``Detections`` with brands, in each image's pixel frame. Batched end to end.

        ``refresh_registry``: let the registry look for new or changed files first (see ``Registry.search``).
        """
        dets = self.detector.detect(images)
        # the whole-image region, when added, is each image's last row; it is reported only when named
        framed = bool(self.frame_score()) and (self.registry is not None or self.match.keep_all)
        if self.registry is None and not self.match.keep_all:  # nothing to match: only `unknown` boxes are reported
            dets = [d[d.score >= self.thresholds()[2]] for d in dets]
        elif framed:
            dets = [with_whole_frame(d, img.shape[1], img.shape[0], self.frame_score())
                    for img, d in zip(images, dets, strict=True)]
        crops, owners = [], []
        for i, (img, det) in enumerate(zip(images, dets, strict=True)):
            ok = embeddable(det.xyxy, self.match, self.naming)
            crops.extend(self.match.crops(img, det.xyxy[ok]))
            owners.extend((i, int(j)) for j in ok)
        if not crops:
            return [self._decide(self._unembedded(d), framed=framed) for d in dets]
        emb = self.embedder.embed(crops)
        if self.registry is not None:
            matches = self.registry.search(emb, k=max(2, self.match.top_k), refresh=refresh_registry)  # 2: margin
        else:
            matches = [[]] * len(crops)
        reads = self._read_text(crops) if self.text is not None and self.registry is not None else [None] * len(crops)
        per_image: dict[int, list[tuple[int, np.ndarray, list, tuple | None]]] = {}
        for (i, j), e, m, r in zip(owners, emb, matches, reads, strict=True):
            per_image.setdefault(i, []).append((j, e, m, r))
        accept, _, unknown_conf = self.thresholds()
        out = []
        for i, det in enumerate(dets):
            rows = per_image.get(i)
            if not rows:
                out.append(self._decide(self._unembedded(det), framed=framed))
                continue
            brand = det.brand.copy()
            sim = det.sim.copy()
            alts = [list(a) for a in det.alternatives]
            margin = np.zeros(len(det), np.float32)
            emb_full = np.zeros((len(det), self.embedder.dim), np.float32)
            text = [("", None, 0.0)] * len(det) if self.text is not None else None
            for j, e, m, _r in rows:
                emb_full[j] = e
                if m:
                    sim[j] = m[0].sim
                    brand[j] = m[0].brand
                    margin[j] = m[0].sim - (m[1].sim if len(m) > 1 else 0.0)
                    alts[j] = [(x.brand, x.sim) for x in m[: self.match.top_k]]
            conf = np.where(brand != UNKNOWN, confidence(det.score, sim, margin, self.naming.coef), det.score)
            forced = np.zeros(len(det), bool)
            for j, _e, _m, r in rows:
                if r is not None:  # text fusion decides the name at the accept threshold in force
                    fused, text[j], how = self._fuse(alts[j], r, accept)
                    if how in ("tie", "named", "override") and det.score[j] >= unknown_conf:
                        # the calibrated model scores visual evidence only: a text-made name needs the detector
                        # score an unknown region needs (no name for a low proposal) and is ranked by that score
                        brand[j], conf[j], forced[j] = fused, det.score[j], True
            out.append(self._decide(Detections(det.xyxy, det.score, brand, sim, emb_full, alts, dict(det.metadata),
                                               text, conf), forced, framed))
        return out

    def _unembedded(self, det: Detections) -> Detections:
        """``det`` with all-zero embedding rows: the shape every returned ``Detections`` has, embedded or not."""
        return replace(det, emb=np.zeros((len(det), self.embedder.dim), np.float32))

    def _decide(self, det: Detections, forced: np.ndarray | None = None, framed: bool = False) -> Detections:
        """The operating thresholds (``decide``); ``framed``: the last row is the whole-image region."""
        if self.match.keep_all:
            return det
        named_only = np.zeros(len(det), bool)
        named_only[-1:] = framed
        return decide(det, *self.thresholds(), forced=forced, named_only=named_only)

    def decide_kept(self, det: Detections) -> Detections:
        """What a ``keep_all`` result (``det``, in its image's pixel frame) reports at the operating thresholds: as
        without ``keep_all``, the whole-image region (its last row, spanning the image at ``frame_score``) shown
        only when named and only once with the boxes covering it. Text-forced names are not replayed."""
        frame = self.frame_score()
        width, height = det.metadata.get("width"), det.metadata.get("height")
        named_only = np.zeros(len(det), bool)
        if frame and len(det) and width and height:
            named_only[-1:] = whole_frame_rows(det.xyxy[-1:], det.score[-1:], width, height, frame)
        return decide(det, *self.thresholds(), named_only=named_only)

    def _read_text(self, crops: list[np.ndarray]) -> list[tuple[str, dict[str, float]]]:
        texts = self.text.brand_texts(self.registry.root, self.registry.brands())
        return self.text.read_and_score(crops, texts)

    def _fuse(self, alts: list[tuple[str, float]], read: tuple[str, dict[str, float]],
              accept: float) -> tuple[str, tuple, str]:
        from osld.text import fuse

        text, scores = read
        brand, how = fuse(alts, scores, accept, self.text.fusion)
        best = max(scores, key=scores.get) if scores else None
        return brand, (text, best, scores[best] if best else 0.0), how

    def _finish(self, det: Detections, loaded: LoadedImage, path: Path | None) -> Detections:
        if loaded.scale != 1.0 and len(det):
            det = det.scaled(1.0 / loaded.scale, loaded.width, loaded.height)
        det.metadata.update(image=str(path) if path else None, width=loaded.width, height=loaded.height)
        return det

    def __call__(self, image: str | Path | np.ndarray) -> Detections:
        """Run on one image path or RGB uint8 array. Raises ``ImageReadError`` for an unreadable file."""
        if isinstance(image, np.ndarray):
            arr = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
            loaded = LoadedImage(np.ascontiguousarray(arr[..., :3]), arr.shape[1], arr.shape[0])
            return self._finish(self.process([loaded.pixels])[0], loaded, None)
        path = Path(image)
        loaded = load_image(path, self.max_side)
        return self._finish(self.process([loaded.pixels])[0], loaded, path)

    def run(self, paths: Iterable[str | Path], batch_size: int = 8, progress: bool = False,
            total: int | None = None, decode_threads: int = 2, keep_images: bool = False) -> Iterator[Result]:
        """Process files in order, decoding ahead in threads while the models run; never raises for one bad file.

        Yields one ``Result`` per input path, in input order. ``progress`` shows a bar on a terminal (none in a log
        file, where a bar would write carriage-return fragments); its total is ``total`` or ``len(paths)``.
        """
        import sys

        from tqdm import tqdm

        if self.registry is not None:  # its bar too only on a terminal
            self.registry.sync(progress=progress and sys.stderr.isatty())

        def decode(p: Path) -> LoadedImage | str:
            try:
                return load_image(p, self.max_side)
            except OsldError as e:
                return str(e)
            except Exception as e:  # a decoder bug on one hostile file must not end the batch
                return f"{p}: unexpected {type(e).__name__}: {e}"

        if total is None and hasattr(paths, "__len__"):
            total = len(paths)  # type: ignore[arg-type]
        bar = tqdm(total=total, unit="img", desc="images", disable=None if progress else True)
        paths_iter = iter(Path(p) for p in paths)
        with ThreadPoolExecutor(max_workers=decode_threads) as pool:
            pending = []
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * batch_size:
                    p = next(paths_iter, None)
                    if p is None:
                        exhausted = True
                        break
                    pending.append((p, pool.submit(decode, p)))
                if not pending:
                    break
                batch, pending = pending[:batch_size], pending[batch_size:]
                decoded = [(p, f.result()) for p, f in batch]
                # a model or registry error concerns the whole run, not one file: it propagates
                dets = iter(self.process([d.pixels for _, d in decoded if isinstance(d, LoadedImage)],
                                         refresh_registry=False))
                for p, d in decoded:
                    if isinstance(d, str):
                        yield Result(p, None, d)
                    else:
                        yield Result(p, self._finish(next(dets), d, p), image=d if keep_images else None)
                    bar.update(1)
        bar.close()
