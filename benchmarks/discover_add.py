"""How should ``osld discover add`` cut the crops it registers? Registered photo crops against the queries they must
match, per crop rule.

The never-trained-on val boxes of the real brand sets (LogoDet-3K clothes, beerjp, tdtu): per brand with more than
``k`` boxes, its first ``k`` boxes are registered (cut by the rule under test), the rest are queries (cut as the
pipeline cuts them, ``MatchConfig``). Recall@1 against those brands alone, and with ~5,000 canonical brands of the
logo catalogue as distractors (first canonical variant, cached like the naming benchmark's registry).

    PYTHONPATH=$PWD python benchmarks/discover_add.py --json discover_add.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from naming_data import brand_boxes_xyxy, distractors, embed_registry, val_brand_photos  # noqa: E402

from osld.data.images import load_image  # noqa: E402
from osld.embedder import load_embedder  # noqa: E402
from osld.pipeline import MatchConfig, crop_regions, default_weights_dir  # noqa: E402

RULES = {
    "pipeline (tight, 5 % pad on border sides)": lambda img, box: MatchConfig().crops(img, box[None])[0],
    "10 % margin (osld discover before session 18)": lambda img, box: crop_regions(img, box[None], 0.1)[0],
}


def val_boxes() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(brand, image pixels, xyxy in those pixels) of every labelled val box."""
    out = []
    for path, boxes in val_brand_photos():
        img = load_image(path)
        for (brand, _), xyxy in zip(boxes, brand_boxes_xyxy(boxes, img.width, img.height) * img.scale, strict=True):
            out.append((brand, img.pixels, xyxy))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=default_weights_dir())
    ap.add_argument("--work", type=Path, default=Path("work/naming"), help="cache of the distractor embeddings")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    emb = load_embedder(args.weights / "embedder.onnx")
    items = val_boxes()
    brands = np.array([b for b, _, _ in items])
    vectors = {rule: emb.embed([cut(img, box) for _, img, box in items]) for rule, cut in RULES.items()}
    args.work.mkdir(parents=True, exist_ok=True)
    dist_vecs, dist_brands, dist_offsets = embed_registry(emb, {}, distractors(set(brands.tolist())),
                                                          args.work / f"distractors_{emb.fingerprint[:12]}.npz")
    rows = []
    for k in (1, 3, 5):
        reg, query = [], []
        for b in sorted(set(brands.tolist())):
            idx = np.nonzero(brands == b)[0]
            if len(idx) > k:
                reg += idx[:k].tolist()
                query += idx[k:].tolist()
        q = vectors[next(iter(RULES))][query]
        for rule in RULES:
            for with_distractors in (False, True):
                db = np.concatenate([vectors[rule][reg]] + ([dist_vecs] if with_distractors else []))
                labels = np.concatenate([brands[reg]] + ([dist_brands.astype(str)] if with_distractors else []))
                offsets = np.concatenate([np.zeros(len(reg), np.float32)] + ([dist_offsets] if with_distractors
                                                                             else []))
                r1 = float(np.mean(labels[np.argmax(q @ db.T + offsets[None], axis=1)] == brands[query]))
                rows.append({"k": k, "rule": rule, "distractors": len(dist_vecs) if with_distractors else 0,
                             "brands": len(set(brands[reg].tolist())), "queries": len(query), "recall_at_1": r1})
    print("| crops registered per brand | brands / queries | registered crops cut by | R@1, those brands | "
          f"R@1, + {len(dist_vecs):,} canonical brands |\n|---|---|---|---|---|")
    for a, b in zip(rows[::2], rows[1::2], strict=True):
        print(f"| {a['k']} | {a['brands']} / {a['queries']} | {a['rule']} | {a['recall_at_1']:.3f} | "
              f"{b['recall_at_1']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
