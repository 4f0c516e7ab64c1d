"""The embedder evaluation's registry: which design of a car brand it holds, and which photos stay queries."""

from __future__ import annotations

import pytest

from tests._shared import shared_path


@pytest.mark.shared
def test_redesigned_car_brands_also_hold_their_old_emblem(tmp_path):
    from osld.embedder.evaluate import REDESIGNED_CAR_BRANDS, EmbedderEvalData, build_eval_registry, vehicle_queries

    data = EmbedderEvalData(shared_path("logos"), shared_path("real", "vehicle_logos"), shared_path("backgrounds"), ())
    photos = {b: [p for q, p in vehicle_queries(data.vehicle_logos) if q == b] for b in ("kia", "bmw")}
    folder, exemplars = build_eval_registry(tmp_path / "registry", data, only={"kia", "bmw"})

    assert "kia" in REDESIGNED_CAR_BRANDS and "bmw" not in REDESIGNED_CAR_BRANDS
    kia = sorted(p.name for p in (folder / "kia").iterdir())
    # the catalogue's (new) design plus one photo of the old emblem, which then is no query
    assert any(not n.startswith("exemplar__") for n in kia) and kia.count(f"exemplar__{photos['kia'][0].name}") == 1
    assert len(kia) == 1 + sum(not n.startswith("exemplar__") for n in kia)
    assert exemplars == {photos["kia"][0]}
    assert not any(p.name.startswith("exemplar__") for p in (folder / "bmw").iterdir())
