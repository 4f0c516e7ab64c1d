"""Measure ``osld discover``'s clustering on real brand-labelled crops, and HDBSCAN against faiss k-means.

Crops: every labelled box of ``labels_brand/`` in the real sets (LogoDet-3K clothes, beerjp, tdtu), cut with the
pipeline's crop rule (``MatchConfig``) and embedded with the given embedder; ``--split val`` keeps the fixed
never-trained-on 20 %.
Per brand with >= 5 boxes: the purity of the cluster holding most of its boxes; coverage = share of regions in a
cluster that is >= 0.8 one brand. Timing: the crops' embeddings tiled with small noise to ``--n-time`` rows.
``--text`` also reads the words in every crop (PP-OCRv4, one thread: minutes) and clusters with them
(``osld discover --text``); then the timing includes the texts, tiled the same way.

    python benchmarks/discover.py --split all --split val --json discover.json
    python benchmarks/discover.py --split train --split val --split all --text
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from osld.data.images import load_image
from osld.data.yolo import cxcywh_to_xyxy, list_images, read_brand_labels, split_by_hash
from osld.discover import cluster
from osld.embedder import load_embedder
from osld.pipeline import MatchConfig, default_weights_dir

SETS = ("logodet3k_clothes", "beerjp", "tdtu")


def crops_of(real: Path, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    crops, labels, match = [], [], MatchConfig()
    for name in SETS:
        images = list_images(real / name / "images")
        if split != "all":
            images = dict(zip(("train", "val"), split_by_hash(images, 0.2), strict=True))[split]
        for img in images:
            brand_boxes = read_brand_labels(img)
            if not brand_boxes:
                continue
            loaded = load_image(img)
            for brand, cxcywh in brand_boxes:
                crops += match.crops(loaded.pixels, cxcywh_to_xyxy(cxcywh[None], loaded.width, loaded.height))
                labels.append(brand)
    return crops, np.array(labels)


def score(assign: np.ndarray, labels: np.ndarray) -> dict:
    """assign: cluster per row, -1 = noise."""
    per_brand, pure = {}, set()
    for c in set(assign.tolist()) - {-1}:
        if Counter(labels[assign == c].tolist()).most_common(1)[0][1] / (assign == c).sum() >= 0.8:
            pure.add(c)
    for b, n in Counter(labels.tolist()).most_common():
        if n < 5:
            continue
        held = Counter(assign[(labels == b) & (assign >= 0)].tolist())
        if not held:
            per_brand[b] = {"n": n, "purity": 0.0, "recall": 0.0}
            continue
        c, k = held.most_common(1)[0]
        per_brand[b] = {"n": n, "purity": round(k / int((assign == c).sum()), 3), "recall": round(k / n, 3)}
    purities = [v["purity"] for v in per_brand.values()]
    return {"regions": len(labels), "clusters": len(set(assign.tolist()) - {-1}),
            "noise": round(float((assign < 0).mean()), 3), "brands_ge5": len(per_brand),
            "brands_pure_ge_0.8": sum(p >= 0.8 for p in purities), "mean_purity": round(float(np.mean(purities)), 3),
            "coverage": round(float(np.isin(assign, list(pure)).mean()), 3), "per_brand": per_brand}


def _assign(n: int, clusters) -> np.ndarray:
    assign = np.full(n, -1)
    for c in clusters:
        assign[c.members] = c.id
    return assign


def run_split(real: Path, split: str, emb, reader=None) -> dict:
    import faiss

    crops, labels = crops_of(real, split)
    x = emb.embed(crops)
    t = time.perf_counter()
    clusters = cluster(x, min_size=3)
    seconds = time.perf_counter() - t
    out = {"hdbscan": {**score(_assign(len(x), clusters), labels), "seconds": round(seconds, 3)}}
    if reader is not None:
        from osld.text import join_lines

        texts = [join_lines(lines) for lines in reader.read(crops)]
        t = time.perf_counter()
        clusters = cluster(x, min_size=3, texts=texts)
        out["hdbscan+text"] = {**score(_assign(len(x), clusters), labels), "seconds": round(time.perf_counter() - t, 3)}
        out["_texts"] = texts
    n_brands = len(set(labels.tolist()))
    for k in (n_brands, 2 * n_brands):  # k-means needs k: the true brand count (unknown in practice), and twice it
        km = faiss.Kmeans(x.shape[1], k, niter=25, seed=0, spherical=True, verbose=False)
        km.train(x)
        out[f"kmeans_k{k}"] = score(km.index.search(x, 1)[1][:, 0], labels)
    out["_x"] = x
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "real")
    ap.add_argument("--embedder", type=Path, default=default_weights_dir() / "embedder.onnx")
    ap.add_argument("--split", action="append", choices=["all", "train", "val"])
    ap.add_argument("--n-time", type=int, default=10000)
    ap.add_argument("--text", action="store_true", help="also cluster with the words read in each crop")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    emb = load_embedder(args.embedder)
    reader = None
    if args.text:
        from osld.text import TextReader

        reader = TextReader()
    report = {"embedder": str(args.embedder), "load_1min_start": os.getloadavg()[0], "splits": {}}
    x = texts = None
    for split in args.split or ["all", "val"]:
        r = run_split(args.real, split, emb, reader)
        split_x, split_texts = r.pop("_x"), r.pop("_texts", None)
        if x is None:  # the first split's crops are tiled for the timing
            x, texts = split_x, split_texts
        report["splits"][split] = r
        for name, s in r.items():
            print(f"{split:5s} {name:12s} clusters {s['clusters']:3d}  brands>=5 {s['brands_ge5']:2d}  "
                  f">=0.8 pure {s['brands_pure_ge_0.8']:2d}  mean purity {s['mean_purity']:.2f}  "
                  f"coverage {s['coverage']:.2f}  noise {s['noise']:.2f}")
    rng = np.random.default_rng(0)
    big = np.concatenate([x + rng.normal(0, 0.03, x.shape).astype(np.float32)
                          for _ in range(-(-args.n_time // len(x)))])[: args.n_time]
    big_texts = None if texts is None else (texts * -(-args.n_time // len(x)))[: args.n_time]
    t = time.perf_counter()
    found = cluster(big, min_size=3, texts=big_texts)
    report["time_n"] = {"regions": len(big), "clusters": len(found), "seconds": round(time.perf_counter() - t, 1),
                        "text": texts is not None}
    report["load_1min_end"] = os.getloadavg()[0]
    print(f"cluster {len(big)} regions: {report['time_n']['seconds']} s ({len(found)} clusters); 1-min load "
          f"{report['load_1min_start']:.1f} -> {report['load_1min_end']:.1f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
