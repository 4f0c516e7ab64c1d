"""The HTTP API over the shipped models and a copy of the demo registry (FastAPI's TestClient)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from osld.output import to_record
from tests.conftest import png_header_only

from .conftest import DEMO

KEY = {"Authorization": "Bearer s3cret"}
BMW = DEMO / "images" / "car_bmw.jpg"


def upload(*paths: Path, ctype: str = "image/jpeg") -> list:
    return [("files", (p.name, p.read_bytes(), ctype)) for p in paths]


def test_detect_returns_the_cli_record(client, demo_copy):
    """Same record as `osld detect` (Pipeline.run + to_record) at the default thresholds."""
    from osld import Pipeline

    r = client.post("/v1/detect", files=upload(BMW))
    assert r.status_code == 200, r.text
    [got] = r.json()["results"]
    pipe = Pipeline.from_pretrained(registry=demo_copy)
    [res] = list(pipe.run([BMW]))
    want = to_record(BMW.name, res.detections, None)
    assert (got["width"], got["height"]) == (want["width"], want["height"])
    assert [d["brand"] for d in got["detections"]] == [d["brand"] for d in want["detections"]]
    np.testing.assert_allclose([d["box"] for d in got["detections"]], [d["box"] for d in want["detections"]], atol=1)
    np.testing.assert_allclose([d["score"] for d in got["detections"]], [d["score"] for d in want["detections"]],
                               atol=1e-3)
    assert got["error"] is None and set(got) == set(want)
    assert r.headers["x-request-id"]


def test_detect_several_images_in_order_and_query_thresholds(client):
    files = [BMW, DEMO / "images" / "car_toyota.jpg"]
    r = client.post("/v1/detect", files=upload(*files))
    recs = r.json()["results"]
    assert [x["image"] for x in recs] == [p.name for p in files]
    # a threshold between the weakest and the strongest box of a four-logo composite keeps the stronger boxes only
    several = upload(DEMO / "images" / "composite_2.jpg")
    low = client.post("/v1/detect?conf=0.05", files=several).json()["results"][0]["detections"]
    scores = sorted(d["score"] for d in low)
    assert len(low) >= 2 and scores[0] < scores[-1] and all(s >= 0.05 for s in scores)
    cut = round((scores[0] + scores[-1]) / 2, 4)
    high = client.post(f"/v1/detect?conf={cut}", files=several).json()["results"][0]["detections"]
    assert high and all(d["score"] >= cut for d in high)
    assert {tuple(d["box"]) for d in high} <= {tuple(d["box"]) for d in low} and len(low) > len(high)
    strict = client.post("/v1/detect?min_sim=1&top_k=2", files=upload(files[0])).json()["results"][0]["detections"]
    assert strict and all(d["brand"] == "unknown" and len(d["alternatives"]) <= 2 for d in strict)
    assert client.post("/v1/detect?conf=0.01", files=upload(files[0])).status_code == 422  # below the floor
    assert client.post("/v1/detect?top_k=0", files=upload(files[0])).status_code == 422


def _bad_uploads(tmp_path: Path) -> dict[str, tuple[list, int]]:
    data = BMW.read_bytes()
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (800, 800, 3), np.uint8)).save(big, "PNG")
    return {
        "not an image": ([("files", ("notes.jpg", b"hello, not pixels" * 10, "image/jpeg"))], 400),
        "truncated": ([("files", ("half.jpg", data[: len(data) // 3], "image/jpeg"))], 400),
        "decompression bomb": ([("files", ("bomb.png", png_header_only(40000, 40000), "image/png"))], 400),
        "over-size": ([("files", ("big.png", big.getvalue(), "image/png"))], 413),  # limit is 1 MB here
        "wrong content type": ([("files", ("a.pdf", data, "application/pdf"))], 415),
        "too many files": (upload(BMW) * 5, 413),
    }


def test_bad_input_is_a_clear_4xx_and_the_server_keeps_serving(client, tmp_path):
    for kind, (files, status) in _bad_uploads(tmp_path).items():
        r = client.post("/v1/detect", files=files)
        assert r.status_code == status, (kind, r.text)
        msg = r.json()["error"]
        assert isinstance(msg, str) and "\n" not in msg and "Traceback" not in msg and len(msg) < 300, kind
    assert client.post("/v1/detect", files=upload(BMW)).status_code == 200


def test_not_multipart_and_mixed_batches(client):
    r = client.post("/v1/detect", content=BMW.read_bytes(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 415 and "multipart" in r.json()["error"]
    r = client.post("/v1/detect", files=upload(BMW) + [("files", ("x.jpg", b"junk", "image/jpeg"))])
    assert r.status_code == 200
    good, bad = r.json()["results"]
    assert good["error"] is None and good["detections"]
    assert bad["error"] and bad["detections"] == [] and "x.jpg" in bad["error"]


def test_body_limit_refuses_a_huge_request_early(client):
    r = client.post("/v1/detect", content=b"x" * (6 * 1024 * 1024),
                    headers={"content-type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 413 and "limit" in r.json()["error"]


def test_model_error_is_500_with_a_request_id_and_no_traceback(client, caplog):
    service = client.app.state.service
    original = service.pipe.detector.detect

    def broken(images):
        raise RuntimeError("simulated onnxruntime failure")

    service.pipe.detector.detect = broken
    try:
        r = client.post("/v1/detect", files=upload(BMW))
    finally:
        service.pipe.detector.detect = original
    assert r.status_code == 500
    body = r.json()
    assert body["request_id"] and "simulated" not in r.text and "Traceback" not in r.text
    assert body["request_id"] in caplog.text
    assert client.post("/v1/detect", files=upload(BMW)).status_code == 200


def test_brand_reads(client, demo_copy):
    brands = client.get("/v1/brands").json()["brands"]
    assert {b["brand"] for b in brands} == {d.name for d in demo_copy.iterdir() if not d.name.startswith(".")}
    detail = client.get("/v1/brands/bmw").json()
    assert detail["images"] and all(i["name"] for i in detail["images"])
    img = client.get(detail["images"][0]["url"])
    assert img.status_code == 200 and img.content == (demo_copy / "bmw" / detail["images"][0]["name"]).read_bytes()
    thumb = client.get(detail["images"][0]["thumbnail"])
    assert Image.open(io.BytesIO(thumb.content)).size[0] <= 128
    assert Image.open(io.BytesIO(client.get("/v1/brands/bmw/thumbnail").content)).format == "PNG"
    assert client.get("/v1/brands/nope").status_code == 404
    assert client.get("/v1/brands/bmw/images/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/v1/brands/.osld").status_code == 400


def test_register_and_remove_a_brand_changes_detection(client, demo_copy):
    logos = sorted((demo_copy / "bmw").iterdir())  # all of them: bmw2 is then bmw under another name
    files = [("files", (logo.name, logo.read_bytes(), "image/png")) for logo in logos]
    assert client.post("/v1/brands/bmw2/images", files=files).status_code == 401
    assert client.post("/v1/brands/bmw2/images", files=files, headers={"Authorization": "Bearer no"}).status_code == 401
    assert client.delete("/v1/brands/bmw").status_code == 401
    r = client.post("/v1/brands/bmw2/images", files=files, headers=KEY)
    assert r.status_code == 201, r.text
    assert r.json()["images"] == len(logos) and all((demo_copy / "bmw2" / logo.name).exists() for logo in logos)
    dets = client.post("/v1/detect?top_k=10", files=upload(BMW)).json()["results"][0]["detections"]
    per_detection = [{a["brand"]: a["similarity"] for a in d["alternatives"]} for d in dets]
    with_bmw = [sims for sims in per_detection if "bmw" in sims]
    assert with_bmw, per_detection
    for sims in with_bmw:  # same images, same similarity
        assert "bmw2" in sims and sims["bmw2"] == pytest.approx(sims["bmw"], abs=1e-3), sims
    r = client.delete("/v1/brands/bmw2", headers=KEY)
    assert r.status_code == 200 and r.json()["removed_images"] == len(logos) and not (demo_copy / "bmw2").exists()
    dets = client.post("/v1/detect?top_k=10", files=upload(BMW)).json()["results"][0]["detections"]
    assert all(a["brand"] != "bmw2" for d in dets for a in d["alternatives"])
    assert client.delete("/v1/brands/bmw2", headers=KEY).status_code == 404


@pytest.mark.parametrize(("brand", "payload", "status"), [
    ("unknown", "logo", 400), (".hidden", "logo", 400), ("acme", "junk", 400), ("acme", "pdf", 415)])
def test_register_refuses_bad_names_and_images_and_writes_nothing(client, demo_copy, brand, payload, status):
    logo = sorted((demo_copy / "audi").iterdir())[0].read_bytes()
    part = {"logo": ("a.png", logo, "image/png"), "junk": ("a.png", b"\x89PNG junk", "image/png"),
            "pdf": ("a.pdf", logo, "application/pdf")}[payload]
    r = client.post(f"/v1/brands/{brand}/images", files=[("files", part)], headers=KEY)
    assert r.status_code == status, r.text
    assert r.json()["error"] and not (demo_copy / brand).exists()


def test_ops_endpoints_and_offline_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/v1/detect", files=upload(BMW))
    # an error of its own, so the counter is checked whether or not the other tests of the module ran first
    assert client.post("/v1/detect", files=[("files", ("a.pdf", b"%PDF-1.4", "application/pdf"))]).status_code == 415
    text = client.get("/metrics").text
    assert 'osld_http_requests_total{method="POST",route="/v1/detect",status="200"}' in text
    assert "osld_batch_size_count" in text and "osld_http_request_seconds_bucket" in text
    assert 'osld_errors_total{status="415"}' in text
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert "/v1/detect" in client.get("/openapi.json").json()["paths"]
    page = client.get("/").text
    assert "/static/app.js" in page and "http" not in page.replace("http-equiv", "")
    assert client.get("/static/app.js").status_code == 200


def test_micro_batcher_groups_concurrent_items_and_survives_errors():
    from osld.serve.batcher import MicroBatcher

    sizes = []

    def fn(items):
        if "boom" in items:
            raise ValueError("boom")
        return [x * 2 for x in items]

    # a long max_wait makes grouping deterministic: the batch closes when the 4th item arrives
    b = MicroBatcher(fn, max_batch=4, max_wait_ms=5000, on_batch=sizes.append)
    futs = [b.submit(i) for i in range(4)]
    assert [f.result(timeout=10) for f in futs] == [0, 2, 4, 6] and sizes == [4]
    bad = [b.submit("boom"), b.submit(5), b.submit(6), b.submit(7)]
    with pytest.raises(ValueError):
        bad[1].result(timeout=10)
    out = []
    threads = [threading.Thread(target=lambda i=i: out.append(b.submit(i).result(timeout=10))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [0, 2, 4, 6]
    b.close()
