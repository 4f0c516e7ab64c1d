"""``osld train detector``: ultralytics YOLO, one class ``logo``, CPU, fully offline, resumable, time-boxed."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from osld._io import atomic_write_bytes
from osld._offline import offline_ultralytics
from osld.data.yolo import read_data_yaml, yologo_split

MODEL_YAML = Path(__file__).with_name("mobilenet_v2_yolo.yaml")


@dataclass(frozen=True)
class DetectorTrainConfig:
    data: str
    out: str
    real_dir: str | None = None  # yologo-style folder split into train / held-out val
    real_val_fraction: float = 0.2
    model: str = str(MODEL_YAML)
    imgsz: int = 320
    batch: int = 16
    epochs: int = 30
    max_minutes: float = 60.0
    workers: int = 2
    seed: int = 0
    freeze_backbone: bool = False


def _write_lists(cfg: DetectorTrainConfig) -> Path:
    """A data.yaml combining the synthetic train split with the real train split; val = real held-out part."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    synth_train, _ = read_data_yaml(cfg.data, "train")
    train = [str(p.resolve()) for p in synth_train]
    val: list[str] = []
    if cfg.real_dir:
        real_train, real_val = yologo_split(cfg.real_dir, cfg.real_val_fraction)
        train += [str(p.resolve()) for p in real_train]
        val = [str(p.resolve()) for p in real_val]
    else:
        synth_val, _ = read_data_yaml(cfg.data, "val")
        val = [str(p.resolve()) for p in synth_val]
    (out / "train.txt").write_text("\n".join(train) + "\n")
    (out / "val.txt").write_text("\n".join(val) + "\n")
    yaml_path = out / "data.yaml"
    yaml_path.write_text(f"path: {out.resolve()}\ntrain: train.txt\nval: val.txt\nnames:\n  0: logo\n")
    return yaml_path


def train_detector(cfg: DetectorTrainConfig, resume: bool = False) -> Path:
    """Train (or resume) and return the best ``.pt`` checkpoint. Stops after ``max_minutes``."""
    out = Path(cfg.out)
    with offline_ultralytics(out):
        import torch
        from ultralytics import YOLO

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        last = out / "train" / "weights" / "last.pt"
        started = time.time()
        if resume and last.exists():
            model = YOLO(str(last))
            model.train(resume=True, time=cfg.max_minutes / 60.0)
        else:
            data_yaml = _write_lists(cfg)
            (out / "osld_train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
            model = YOLO(cfg.model, task="detect")
            model.train(
                data=str(data_yaml), epochs=cfg.epochs, time=cfg.max_minutes / 60.0, imgsz=cfg.imgsz,
                batch=cfg.batch, device="cpu", workers=cfg.workers, project=str(out.resolve()), name="train",
                exist_ok=True, seed=cfg.seed, amp=False, plots=True, save_period=1, patience=100,
                freeze=[0] if cfg.freeze_backbone else None, cache=False, verbose=False,
                close_mosaic=max(1, cfg.epochs // 5), mosaic=0.5, scale=0.5, degrees=5.0, fliplr=0.0,
            )
        minutes = (time.time() - started) / 60
        with open(out / "osld_train_log.jsonl", "a") as f:
            f.write(json.dumps({"resume": resume, "minutes": round(minutes, 1)}) + "\n")
    best = out / "train" / "weights" / "best.pt"
    return best if best.exists() else last


def export_onnx(checkpoint: str | Path, out: str | Path, imgsz: int = 320) -> Path:
    """Export a trained checkpoint to ONNX with a dynamic batch axis; returns the ONNX path."""
    out = Path(out)
    with offline_ultralytics(Path(checkpoint).parent.parent):
        from ultralytics import YOLO

        model = YOLO(str(checkpoint))
        exported = Path(model.export(format="onnx", imgsz=imgsz, dynamic=True, simplify=False, opset=17))
    return atomic_write_bytes(out, exported.read_bytes())
