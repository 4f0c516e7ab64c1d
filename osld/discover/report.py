"""What ``osld discover`` writes: per cluster its crops, a contact sheet and its members; ``clusters.json``; an
``index.html`` showing every sheet. Layout of the output folder::

    clusters.json           every cluster: id, size, tightness, nearest brands, members (most central first); with
                            text: each member's words read and the cluster's most frequent readings
    index.html              all contact sheets, best cluster first
    cluster_001.png         contact sheet of cluster 1 (most central crop top-left)
    cluster_001/cluster_001_000.png  its crops, most central first (what ``osld discover add`` copies into a registry)
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from osld._io import atomic_write_text
from osld.data.images import load_image
from osld.discover.cluster import Cluster
from osld.discover.embeddings import Regions
from osld.errors import OsldError
from osld.pipeline import MatchConfig
from osld.vis import save_png

TILE = 112
COLS = 8
_STALE = re.compile(r"^cluster_\d{3,}(\.png)?$")


def _tile(crop: np.ndarray) -> np.ndarray:
    """The crop scaled to fit a TILE x TILE grey square, aspect kept."""
    out = np.full((TILE, TILE, 3), 235, np.uint8)
    h, w = crop.shape[:2]
    s = (TILE - 4) / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y, x = (TILE - nh) // 2, (TILE - nw) // 2
    out[y: y + nh, x: x + nw] = small
    return out


def _title(c: Cluster) -> str:
    near = ", ".join(f"{m.brand} {m.sim:.2f}" for m in c.nearest) or "no registry"
    return f"#{c.id}: {c.size} regions, tightness {c.tightness:.2f}; nearest: {near}"


def contact_sheet(crops: list[np.ndarray], title: str) -> np.ndarray:
    """RGB sheet: a title bar over a grid of crops in the given order (row-major)."""
    rows = max(1, -(-len(crops) // COLS))
    head = 28
    sheet = np.full((head + rows * TILE, COLS * TILE, 3), 255, np.uint8)
    cv2.putText(sheet, title.encode("ascii", "replace").decode(), (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 0, 0), 1, cv2.LINE_AA)
    for i, crop in enumerate(crops):
        r, col = divmod(i, COLS)
        sheet[head + r * TILE: head + (r + 1) * TILE, col * TILE: (col + 1) * TILE] = _tile(crop)
    return sheet


def _crops(regions: Regions, clusters: list[Cluster], per_cluster: int, match: MatchConfig
           ) -> dict[int, list[np.ndarray | None]]:
    """Full-resolution crops of each cluster's first ``per_cluster`` members, cut by ``match``'s crop rule,
    decoding every image once."""
    wanted: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    for c in clusters:
        for rank, i in enumerate(c.members[:per_cluster]):
            wanted.setdefault(str(regions.image[i]), []).append((c.id, rank, regions.xyxy[i]))
    out = {c.id: [None] * min(per_cluster, c.size) for c in clusters}
    for image, items in wanted.items():
        try:
            loaded = load_image(image)
        except OsldError:  # moved or deleted since detect: the sheet shows a blank tile
            continue
        boxes = np.stack([b for _, _, b in items]) * loaded.scale
        for (cid, rank, _), crop in zip(items, match.crops(loaded.pixels, boxes), strict=True):
            out[cid][rank] = crop
    return out


def write_report(out: str | Path, regions: Regions, clusters: list[Cluster], per_cluster: int = 40,
                 match: MatchConfig | None = None, source: str = "", texts: Sequence[str] | None = None) -> Path:
    """Write the output folder described in the module docstring; returns the path of ``index.html``.

    ``texts`` (the words read in each region, when clustering used them) are listed per member, and each cluster's
    most frequent reading is shown as a name suggestion.

    The crops are cut as the pipeline cuts a region before embedding it (``match``, default ``MatchConfig()``), so
    the ones ``osld discover add`` registers look like the queries they must match: measured on the real sets' 155
    never-trained-on val boxes with 5,101 canonical distractors, 1 / 5 registered crops per brand named the rest
    with Recall@1 0.557 / 0.956 cut this way against 0.478 / 0.911 with a 10 % margin (benchmarks/discover_add.py).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():  # a previous run's clusters would be mistaken for this run's
        if _STALE.match(old.name):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    crops = _crops(regions, clusters, per_cluster, match or MatchConfig())
    summary = []
    for c in clusters:
        name = f"cluster_{c.id:03d}"
        files = []
        for rank, crop in enumerate(crops[c.id]):
            if crop is not None:
                files.append(save_png(out / name / f"{name}_{rank:03d}.png", crop).relative_to(out).as_posix())
        save_png(out / f"{name}.png", contact_sheet([x for x in crops[c.id] if x is not None], _title(c)))
        members = [{"image": str(regions.image[i]), "det": int(regions.det[i]),
                    "box": [round(float(v), 2) for v in regions.xyxy[i]], "centrality": round(float(s), 4)}
                   for i, s in zip(c.members, c.centrality, strict=True)]
        entry = {"id": c.id, "size": c.size, "tightness": round(c.tightness, 4), "sheet": f"{name}.png",
                 "crops": files, "nearest": [{"brand": m.brand, "similarity": round(m.sim, 4)} for m in c.nearest]}
        if texts is not None:
            for m, i in zip(members, c.members, strict=True):
                m["text"] = texts[i]
            read = Counter(t.strip() for t in (texts[i] for i in c.members) if t.strip())
            entry["reads"] = [{"text": t, "regions": k} for t, k in read.most_common(3)]
        summary.append({**entry, "members": members})
    atomic_write_text(out / "clusters.json", json.dumps(
        {"source": source, "regions": len(regions), "clusters": summary}, indent=1, ensure_ascii=False))
    return atomic_write_text(out / "index.html", _index_html(summary, len(regions), source))


def _index_html(summary: list[dict], n_regions: int, source: str) -> str:
    clustered = sum(c["size"] for c in summary)
    parts = [f"<!doctype html><meta charset=utf-8><title>osld discover</title><style>body{{font-family:sans-serif;"
             f"margin:1em}} section{{margin-bottom:1.5em}} img{{max-width:100%;border:1px solid #ccc}}"
             f" code{{background:#eee}}</style><h1>osld discover: {len(summary)} clusters</h1>"
             f"<p>{clustered} of {n_regions} unknown regions clustered, from {html.escape(source)}. Name a cluster "
             "with <code>osld discover add ID BRAND --clusters THIS_FOLDER --registry DIR</code>.</p>"]
    for c in summary:
        near = ", ".join(f"{html.escape(m['brand'])} ({m['similarity']:.2f})" for m in c["nearest"]) or "-"
        reads = ", ".join(f"<q>{html.escape(r['text'])}</q> ({r['regions']})" for r in c.get("reads", []))
        parts.append(f"<section id=c{c['id']}><h2>#{c['id']}: {c['size']} regions, tightness "
                     f"{c['tightness']:.2f}</h2><p>nearest registered brands: {near}</p>"
                     + (f"<p>words read: {reads}</p>" if reads else "") +
                     f"<img src='{html.escape(c['sheet'])}' alt='cluster {c['id']}'></section>")
    return "\n".join(parts) + "\n"


def read_clusters(folder: str | Path) -> list[dict]:
    path = Path(folder) / "clusters.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["clusters"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise OsldError(f"{path}: no osld discover output here ({e})") from None
