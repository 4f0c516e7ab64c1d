"""osld discover: saved embeddings (keyed, resumable), clustering real unregistered brands, naming a cluster."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from osld.cli import app
from osld.data.images import load_image
from osld.data.yolo import cxcywh_to_xyxy, list_images, read_brand_labels, split_by_hash
from osld.discover import cluster, load_regions
from osld.discover.embeddings import save_regions
from osld.errors import ConfigError
from osld.pipeline import MatchConfig
from tests._shared import shared_path

DEMO = Path(__file__).resolve().parents[1] / "datasets" / "demo"
REAL_SETS = ("logodet3k_clothes", "beerjp", "tdtu")
runner = CliRunner()


def _invoke(args: list[str]):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _labelled(images: list[Path]) -> list[tuple[Path, str, np.ndarray]]:
    """(image, brand, xyxy in original pixels) of every box in ``labels_brand/``."""
    out = []
    for img in images:
        labels = read_brand_labels(img)
        if labels:
            loaded = load_image(img)
            out += [(img, brand, cxcywh_to_xyxy(box[None], loaded.width, loaded.height)[0]) for brand, box in labels]
    return out


def _val_images(name: str) -> list[Path]:
    """The fixed never-trained-on side of the real set (the embedder trains on the other side)."""
    return split_by_hash(list_images(shared_path("real", name, "images")), 0.2)[1]


def _on(box: list[float], labelled: list[np.ndarray]) -> bool:
    """The detected box lies mostly (>= 60 %) on a labelled box (these labels are loose, detections tighter)."""
    a = np.asarray(box)
    for b in labelled:
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        if w * h >= 0.6 * (a[2] - a[0]) * (a[3] - a[1]):
            return True
    return False


def brand_purity(labels: np.ndarray, clusters) -> dict[str, tuple[int, float, int]]:
    """Per brand with >= 5 instances: (instances, purity of the cluster holding most of them, that cluster's id)."""
    of = np.full(len(labels), -1)
    for c in clusters:
        of[c.members] = c.id
    out = {}
    for brand, n in Counter(labels.tolist()).items():
        if n < 5:
            continue
        held = Counter(of[(labels == brand) & (of > 0)].tolist())
        if not held:
            out[brand] = (n, 0.0, -1)
            continue
        cid, k = held.most_common(1)[0]
        out[brand] = (n, k / int((of == cid).sum()), cid)
    return out


@pytest.fixture(scope="module")
def real_collection(shipped_embedder):
    """Embeddings, brands and crops of every labelled box in the validation images of the three real brand sets."""
    boxes = []
    for name in REAL_SETS:
        boxes += _labelled(_val_images(name))
    crops, match = [], MatchConfig()  # crops as the pipeline embeds them
    for img, _, xyxy in boxes:
        crops += match.crops(load_image(img).pixels, xyxy[None])
    return shipped_embedder.embed(crops), np.array([b for _, b, _ in boxes]), crops


def test_cluster_big_brands_pure_and_far_above_chance(real_collection):
    emb, labels, _ = real_collection
    clusters = cluster(emb, min_size=3)
    purity = brand_purity(labels, clusters)
    big = {b: p for b, p in purity.items() if p[0] >= 10}
    assert big, "the real sets should hold brands with >= 10 boxes"
    for brand, (n, p, _) in big.items():
        assert p >= 0.8, f"{brand} ({n} boxes): its best cluster is only {p:.2f} pure"
    # a pair of regions put in one cluster is of one brand far more often than a random pair
    same = [labels[c.members[:, None]] == labels[c.members[None, :]] for c in clusters]
    within = sum(s.sum() - len(s) for s in same) / max(sum(len(s) * (len(s) - 1) for s in same), 1)
    counts = np.array(list(Counter(labels.tolist()).values()))
    chance = (counts * (counts - 1)).sum() / (len(labels) * (len(labels) - 1))
    assert within >= 3 * chance, (within, chance)
    assert [c.id for c in clusters] == list(range(1, len(clusters) + 1))
    for c in clusters:  # most central first
        assert (np.diff(c.centrality) <= 1e-6).all()


@pytest.mark.xfail(strict=False, reason="issue 16's target; the session-5, -7, -19, -20 and -29 embedders meet it "
                   "for 6 of the 10 validation brands with >= 5 boxes, session 26's for 7, session 31's "
                   "for 8; 8 with the words read; session 37's (shipped) 7, the_north_face at 0.71. The other "
                   "two (bulgari, American Eagle) are different logos of one brand, nearer to other brands' "
                   "crops than to each other (README 'Discover')")
def test_cluster_purity_issue_target(real_collection):
    emb, labels, _ = real_collection
    purity = brand_purity(labels, cluster(emb, min_size=3))
    low = {b: round(p, 2) for b, (_, p, _) in purity.items() if p < 0.8}
    assert not low, f"brands below 0.8 purity: {low}"


def test_text_read_makes_more_brands_pure(real_collection):
    """Look-alike wordmarks (napapijri, new balance, patagonia, bvlgari shared one cluster) come apart when the
    words read in each crop join the clustering: 8 of the 10 brands with >= 5 boxes pure vs 7 (session-26 embedder).
    The session-37 embedder (shipped for naming) makes 7 pure either way (the_north_face at 0.71; session 31's: 8)."""
    from osld.text import TextReader, join_lines

    emb, labels, crops = real_collection
    texts = [join_lines(lines) for lines in TextReader().read(crops)]
    pure = [sum(p >= 0.8 for _, p, _ in brand_purity(labels, cluster(emb, min_size=3, texts=t)).values())
            for t in (None, texts)]
    assert pure[1] >= max(pure[0], 7), f"brands >= 0.8 pure without / with text: {pure}"


def _unregistered_registry(tmp_path: Path) -> Path:
    """A registry of two demo brands: none of the real sets' brands is registered."""
    reg = tmp_path / "registry"
    for brand in ("lamborghini", "slack"):
        shutil.copytree(DEMO / "logos" / brand, reg / brand)
    return reg


def test_discover_add_then_detect_names_the_brand(tmp_path):
    """The whole loop on real photos: detect -> discover -> add the brand's cluster -> detect names it."""
    root = shared_path("real", "tdtu")
    # the 10 photos with the largest tdtu logos: many of this set's logos are too small for today's detector
    area = Counter()
    for img, _, xyxy in _labelled(list_images(root / "images")):
        area[img] = max(area[img], float(np.prod(xyxy[2:] - xyxy[:2])))
    tdtu = [img for img, _ in area.most_common(10)]
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in tdtu:
        shutil.copy(p, photos / f"t{p.name}")  # both sets number their files from 000001
    for p in _val_images("beerjp")[:4]:
        shutil.copy(p, photos / p.name)
    reg = _unregistered_registry(tmp_path)
    res, emb_file, out = tmp_path / "r.jsonl", tmp_path / "emb.npz", tmp_path / "clusters"
    _invoke(["detect", photos, "--registry", reg, "--out", res, "--save-embeddings", emb_file, "--no-progress"])
    _invoke(["discover", res, "--embeddings", emb_file, "--registry", reg, "--out", out])
    summary = json.loads((out / "clusters.json").read_text())["clusters"]
    assert (out / "index.html").read_text().count("<img") == len(summary) > 0
    assert all((out / c["sheet"]).exists() and c["nearest"] for c in summary)

    # the cluster holding most detected tdtu logos
    gt = {photos / f"t{img.name}": [] for img in tdtu}
    for img, _, xyxy in _labelled(tdtu):
        gt[photos / f"t{img.name}"].append(xyxy)
    hits = Counter()
    for c in summary:
        for m in c["members"]:
            if _on(m["box"], gt.get(Path(m["image"]), [])):
                hits[c["id"]] += 1
    assert hits, "no tdtu logo was detected and clustered"
    cid, k = hits.most_common(1)[0]
    best = next(c for c in summary if c["id"] == cid)
    others = [(Path(m["image"]).name, [round(v) for v in m["box"]]) for m in best["members"]
              if not _on(m["box"], gt.get(Path(m["image"]), []))]
    # a majority here; issue 16's purity target (>= 0.8) is test_cluster_purity_issue_target's. The session-5
    # embedder puts 4 Kirin labels of the beer photos into this cluster (and one tdtu shirt box too loose for _on)
    assert k / best["size"] >= 0.6, f"tdtu cluster #{cid}: {k} of {best['size']} are tdtu logos; others: {others}"

    _invoke(["discover", "add", cid, "tdtu", "--registry", reg, "--clusters", out, "--take", 5])
    assert len(list((reg / "tdtu").iterdir())) == min(5, best["size"])
    # detect again on the tdtu photos none of the registered crops came from
    sources = {m["image"] for m in best["members"][:5]}
    rest = [p for p in gt if str(p) not in sources]
    res2 = tmp_path / "r2.jsonl"
    _invoke(["detect", *rest, "--registry", reg, "--out", res2, "--no-progress"])
    named = hit = 0
    for rec in map(json.loads, res2.read_text().splitlines()):
        for d in rec["detections"]:
            if _on(d["box"], gt[Path(rec["image"])]):
                hit += 1
                named += d["brand"] == "tdtu"
    assert hit and named / hit >= 0.5, f"{named} of {hit} detected tdtu logos named tdtu"


# ---------- no ../shared needed: the demo images ----------

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, Path]:
    """``osld detect --save-embeddings`` over the demo photos, no registry: (results, embeddings)."""
    d = tmp_path_factory.mktemp("demo_run")
    _invoke(["detect", DEMO / "images", "--out", d / "r.jsonl", "--save-embeddings", d / "emb.npz", "--no-progress"])
    return d / "r.jsonl", d / "emb.npz"


def test_save_embeddings_keyed_to_boxes_and_resumable(tmp_path, demo_run):
    images = sorted((DEMO / "images").iterdir())
    res, emb_file = tmp_path / "r.jsonl", tmp_path / "emb.npz"
    shutil.copy(demo_run[0], res)
    shutil.copy(demo_run[1], emb_file)
    full = load_regions(emb_file)
    records = [json.loads(line) for line in res.read_text().splitlines()]
    assert sorted(full.images) == sorted(r["image"] for r in records)
    n_boxes = sum(len(r["detections"]) for r in records)
    assert len(full) == n_boxes > 0
    by_key = {(str(i), int(d)): k for k, (i, d) in enumerate(zip(full.image, full.det, strict=True))}
    for r in records:
        for j, d in enumerate(r["detections"]):
            k = by_key[(r["image"], j)]
            assert np.allclose(full.xyxy[k], d["box"], atol=0.01) and full.brand[k] == d["brand"]
    # a unit vector per embedded box; zeros for a box under the pipeline's minimum side (naming.json's min_side_px)
    norms = np.linalg.norm(full.embedding, axis=1)
    assert (np.isclose(norms, 1, atol=1e-3) | (norms == 0)).all() and np.isclose(norms, 1, atol=1e-3).mean() > 0.5

    # a run killed after writing its results but before its last checkpoint: the file covers 3 images only
    first3 = sorted(full.images)[:3]
    save_regions(emb_file, full.select(np.isin(full.image, first3)))
    _invoke(["detect", *images, "--out", res, "--resume", "--save-embeddings", emb_file, "--no-progress"])
    resumed = load_regions(emb_file)
    assert sorted(resumed.images) == sorted(full.images) and len(resumed) == len(full)
    again = {(str(i), int(d)): e for i, d, e in zip(resumed.image, resumed.det, resumed.embedding, strict=True)}
    for k, key in enumerate(zip(full.image.tolist(), full.det.tolist(), strict=True)):
        if norms[k] == 0:  # too small for the pipeline, so too small when re-embedded
            assert not again[key].any()
        else:
            assert float(again[key] @ full.embedding[k]) > 0.98  # re-embedded from the boxes, not re-detected
    assert len(res.read_text().splitlines()) == len(images)


def test_discover_without_saved_embeddings_and_bad_input(tmp_path, demo_run):
    res, emb_file = demo_run
    a, b = tmp_path / "a", tmp_path / "b"
    _invoke(["discover", res, "--embeddings", emb_file, "--out", a, "--min-size", 2])
    _invoke(["discover", res, "--out", b, "--min-size", 2])  # re-embeds the regions from the images
    ca, cb = (json.loads((d / "clusters.json").read_text())["clusters"] for d in (a, b))
    assert [c["size"] for c in ca] == [c["size"] for c in cb]
    assert [m["image"] for c in ca for m in c["members"]] == [m["image"] for c in cb for m in c["members"]]

    csv_file = tmp_path / "r.csv"
    csv_file.write_text("image\n")
    bad = runner.invoke(app, ["discover", str(csv_file), "--out", str(tmp_path / "c")])
    assert bad.exit_code == 1 and "JSONL" in bad.output
    bad = runner.invoke(app, ["discover", "add", "999", "acme", "--registry", str(tmp_path / "reg"), "--clusters",
                              str(a)])
    assert bad.exit_code == 1 and "no cluster 999" in bad.output


def test_texts_keep_lookalikes_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 64))
    emb = np.repeat(centres, [12, 6], axis=0) + 0.02 * rng.normal(size=(18, 64))  # two tight blobs
    texts = ["Patagonia"] * 6 + ["NAPAPIJRI"] * 6 + ["adidas"] * 6
    assert len(cluster(emb, min_size=3)) == 2
    found = cluster(emb, min_size=3, texts=texts)
    assert sorted(sorted({texts[i] for i in c.members}) for c in found) == [["NAPAPIJRI"], ["Patagonia"], ["adidas"]]
    # nothing readable (or one stray letter): the embeddings alone decide
    assert [c.members.tolist() for c in cluster(emb, min_size=3, texts=["", "x"] * 9)] == \
        [c.members.tolist() for c in cluster(emb, min_size=3)]
    with pytest.raises(ConfigError, match="one per embedding"):
        cluster(emb, texts=texts[:5])


def test_discover_text_uses_the_words_detect_recorded(tmp_path, demo_run):
    """``discover --text`` on results carrying ``text`` (``osld detect --text``): no region is read again, and no
    cluster mixes regions that read different words."""
    res, emb_file = demo_run
    records = [json.loads(line) for line in res.read_text().splitlines()]
    words = iter(["coca cola", "pepsi"] * 1000)
    for r in records:
        for d in r["detections"]:
            d["text"] = next(words)
    with_text = tmp_path / "r.jsonl"
    with_text.write_text("".join(json.dumps(r) + "\n" for r in records))
    plain, read = tmp_path / "plain", tmp_path / "read"
    _invoke(["discover", with_text, "--embeddings", emb_file, "--out", plain, "--min-size", 2])
    _invoke(["discover", with_text, "--embeddings", emb_file, "--out", read, "--min-size", 2, "--text"])
    recorded = {(r["image"], j): d["text"] for r in records for j, d in enumerate(r["detections"])}
    clusters = [json.loads((d / "clusters.json").read_text())["clusters"] for d in (plain, read)]
    words = [[{recorded[m["image"], m["det"]] for m in c["members"]} for c in run] for run in clusters]
    assert any(len(w) > 1 for w in words[0]), "the embeddings alone should group regions reading different words"
    assert words[1] and all(len(w) == 1 for w in words[1]), words[1]
    assert all(m["text"] == recorded[m["image"], m["det"]] for c in clusters[1] for m in c["members"])
    assert all(c["reads"][0]["text"] in ("coca cola", "pepsi") for c in clusters[1])
    assert "words read" in (read / "index.html").read_text()


def test_discover_text_not_read_where_clustering_cannot_use_it(tmp_path, demo_run, monkeypatch, caplog):
    """Above BRUTE_MAX regions the clustering has no distance matrix to fold texts into: none are read."""
    import osld.discover as discover_module

    def fail(*_, **__):
        raise AssertionError("texts were read although the clustering cannot use them")

    monkeypatch.setattr(discover_module, "BRUTE_MAX", 1)
    monkeypatch.setattr(discover_module, "read_texts", fail)
    res, emb_file = demo_run
    clusters = discover_module.discover(res, tmp_path / "c", embeddings=emb_file, min_size=2, text=True)
    assert clusters and "without the words read" in caplog.text
    assert all("reads" not in c for c in json.loads((tmp_path / "c" / "clusters.json").read_text())["clusters"])


def test_cluster_crops_are_cut_like_the_queries(tmp_path, demo_run, shipped_embedder):
    """What ``discover add`` registers is the region as the pipeline embeds it (no context margin), so a crop file
    embeds to its region's own embedding."""
    res, emb_file = demo_run
    _invoke(["discover", res, "--embeddings", emb_file, "--out", tmp_path / "c", "--min-size", 2])
    regions = load_regions(emb_file)
    by_key = {(str(i), int(d)): e for i, d, e in zip(regions.image, regions.det, regions.embedding, strict=True)}
    clusters = json.loads((tmp_path / "c" / "clusters.json").read_text())["clusters"]
    pairs = [(tmp_path / "c" / f, by_key[(m["image"], m["det"])]) for c in clusters
             for f, m in zip(c["crops"], c["members"], strict=False)]
    assert pairs
    crops = [load_image(f).pixels for f, _ in pairs]
    sims = np.sum(shipped_embedder.embed(crops) * np.stack([e for _, e in pairs]), axis=1)
    assert sims.min() > 0.97, sims.round(3)
