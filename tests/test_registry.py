"""The registry folder: incremental indexing, search, brand validation."""

import json
import os
import time

import numpy as np
import pytest

from osld.errors import ConfigError
from osld.registry import Registry, validate_brand


class CountingEmbedder:
    """The shipped embedder, counting how many crops it is asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.dim = inner.dim
        self.fingerprint = inner.fingerprint
        self.crops = 0

    def embed(self, crops):
        self.crops += len(crops)
        return self.inner.embed(crops)


@pytest.fixture
def counting(shipped_embedder):
    from osld.calibration import negative_embeddings

    negative_embeddings(shipped_embedder)  # the calibration's impostor crops: embedded once, not counted here
    return CountingEmbedder(shipped_embedder)


def test_incremental_update_embeds_only_what_changed(tmp_path, counting, logo_png):
    from osld.embedder.preprocess import CANONICAL_VARIANTS

    n_var = len(CANONICAL_VARIANTS)
    reg = Registry(tmp_path / "reg", counting)
    reg.add("acme", [logo_png(1), logo_png(2)])
    assert counting.crops == 2 * n_var
    assert len(reg) == 2 * n_var

    # a brand folder copied in by hand is picked up like `osld register`
    (tmp_path / "reg" / "globex").mkdir()
    logo_png(3, tmp_path / "reg" / "globex" / "g.png")
    stats = reg.sync()
    assert stats == {"added": 1, "changed": 0, "removed": 0, "kept": 2, "failed": 0}
    assert counting.crops == 3 * n_var

    # touching a file without changing it re-hashes but does not re-embed
    f = tmp_path / "reg" / "globex" / "g.png"
    os.utime(f, (time.time() + 5, time.time() + 5))
    assert reg.sync()["changed"] == 0 and counting.crops == 3 * n_var

    # changing content re-embeds that file only
    logo_png(4, f)
    assert reg.sync()["changed"] == 1 and counting.crops == 4 * n_var

    # removing a file drops its rows without embedding anything
    (tmp_path / "reg" / "acme" / sorted(os.listdir(tmp_path / "reg" / "acme"))[0]).unlink()
    assert reg.sync()["removed"] == 1 and counting.crops == 4 * n_var
    assert len(reg) == 2 * n_var

    # a fresh Registry object reads the index from disk: nothing to embed
    again = Registry(tmp_path / "reg", counting)
    assert again.sync() == {"added": 0, "changed": 0, "removed": 0, "kept": 2, "failed": 0}
    assert counting.crops == 4 * n_var


def test_other_embedder_triggers_full_rebuild(tmp_path, counting, logo_png):
    reg = Registry(tmp_path / "reg", counting)
    reg.add("acme", [logo_png(1)])
    manifest = json.loads((tmp_path / "reg" / ".osld" / "manifest.json").read_text())
    assert manifest["embedder"] == counting.fingerprint
    counting.fingerprint = "another-model"
    before = counting.crops
    assert Registry(tmp_path / "reg", counting).sync()["added"] == 1
    assert counting.crops > before


def test_older_drawing_of_the_variants_triggers_full_rebuild(tmp_path, counting, logo_png, monkeypatch):
    """A registry indexed before a rendering fix is re-embedded, not served with the old variant rows."""
    from osld.registry import store

    reg = Registry(tmp_path / "reg", counting)
    reg.add("acme", [logo_png(1)])
    manifest = json.loads((tmp_path / "reg" / ".osld" / "manifest.json").read_text())
    assert manifest["drawing"] == store.drawing_fingerprint()
    before = counting.crops
    assert Registry(tmp_path / "reg", counting).sync()["kept"] == 1 and counting.crops == before

    monkeypatch.setattr(store, "drawing_fingerprint", lambda: "the variants drawn by newer code")
    assert Registry(tmp_path / "reg", counting).sync()["added"] == 1
    assert counting.crops > before


def test_index_files_on_disk(tmp_path, counting, logo_png):
    import faiss

    Registry(tmp_path / "reg", counting).add("acme", [logo_png(1)])
    d = tmp_path / "reg" / ".osld"
    vectors = np.load(d / "vectors.npy")
    index = faiss.read_index(str(d / "index.faiss"))
    assert index.ntotal == len(vectors) and index.d == counting.dim
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    manifest = json.loads((d / "manifest.json").read_text())
    (entry,) = manifest["entries"]
    assert entry["path"] == "acme/" + os.listdir(tmp_path / "reg" / "acme")[0]
    assert {"size", "mtime_ns", "sha256", "row", "rows"} <= set(entry)


def test_search_groups_by_brand_and_ranks(tmp_path, shipped_embedder, logo_png):
    from osld.data.images import load_rgba
    from osld.embedder.preprocess import flatten_alpha

    reg = Registry(tmp_path / "reg", shipped_embedder)
    for i, brand in enumerate(["a", "b", "c"]):
        reg.add(brand, [logo_png(10 + i), logo_png(20 + i)], sync=False)
    query = shipped_embedder.embed([flatten_alpha(load_rgba(tmp_path / "reg" / "b" / os.listdir(
        tmp_path / "reg" / "b")[0]), "white")])
    (matches,) = reg.search(query, k=3)
    assert [m.brand for m in matches][0] == "b"
    assert len({m.brand for m in matches}) == 3
    assert matches[0].sim == pytest.approx(1.0, abs=1e-3)
    assert all(matches[i].sim >= matches[i + 1].sim for i in range(2))


@pytest.mark.parametrize("name", ["nike", "Café 東京", "a b&c", "3M"])
def test_valid_brand_names(name):
    assert validate_brand(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "a\x00b", "a\nb", "unknown"])
def test_invalid_brand_names(name):
    with pytest.raises(ConfigError):
        validate_brand(name)


def test_registry_add_refuses_non_images(tmp_path, shipped_embedder):
    from osld.errors import ImageReadError

    bad = tmp_path / "x.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageReadError):
        Registry(tmp_path / "reg", shipped_embedder).add("acme", [bad])
    assert not list((tmp_path / "reg").glob("*/*.png"))


def test_pipeline_refuses_a_registry_indexed_by_another_embedder(tmp_path, counting, shipped_embedder):
    from osld.errors import RegistryMismatchError
    from osld.pipeline import Pipeline

    counting.fingerprint = "another-model"
    with pytest.raises(RegistryMismatchError, match="embedder"):
        Pipeline(detector=None, embedder=shipped_embedder, registry=Registry(tmp_path / "reg", counting))


def test_variant_rows_lose_their_penalty_in_search():
    import faiss

    from osld.embedder.preprocess import CANONICAL_VARIANTS, VARIANT_PENALTY, variant_offsets
    from osld.registry.search import search_brands

    n_var = len(CANONICAL_VARIANTS)
    chrome_row = CANONICAL_VARIANTS.index("chrome")
    offsets = variant_offsets([n_var, 1])  # a transparent logo of brand a, an opaque image of brand b
    assert offsets.shape == (n_var + 1,) and offsets[chrome_row] == -VARIANT_PENALTY["chrome"]
    assert (np.delete(offsets, chrome_row) == 0).all()

    vectors = np.eye(n_var + 1, 16, dtype=np.float32)  # orthonormal rows
    # a query closest to brand a's chrome row (cos 0.72), and to brand b's image by 0.03 less
    query = (np.cos(0.764) * vectors[chrome_row] + np.sin(0.764) * vectors[n_var]).astype(np.float32)
    index = faiss.IndexFlatIP(16)
    index.add(vectors)
    brands = np.array(["a"] * n_var + ["b"], object)
    paths = ["a/logo.png"] * n_var + ["b/photo.jpg"]
    sims = vectors @ query
    assert sims[chrome_row] > sims[n_var] > sims[chrome_row] - VARIANT_PENALTY["chrome"]
    plain = search_brands(index, vectors, brands, paths, query[None], 2, None, False, True)[0]
    assert plain[0].brand == "a"
    ranked = search_brands(index, vectors, brands, paths, query[None], 2, None, False, True, offsets)[0]
    assert ranked[0].brand == "b" and ranked[0].sim == pytest.approx(sims[n_var], abs=1e-5)


def test_chrome_variant_is_a_grey_badge_on_a_dark_margin(logo_png):
    import cv2

    from osld.data.images import load_rgba
    from osld.embedder.preprocess import CHROME_BACKGROUND, flatten_alpha

    rgb = flatten_alpha(load_rgba(logo_png(1)), "chrome")
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
    assert (rgb[0] == int(CHROME_BACKGROUND)).all()  # the margin
    assert np.array_equal(rgb, flatten_alpha(load_rgba(logo_png(1)), "chrome"))  # one fixed rendering
    assert cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean() < 60
