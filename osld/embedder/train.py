"""``osld train embedder``: SDML (normalized softmax, class-balanced batches) on canonical brands + real crops."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from osld.data.images import iter_image_files
from osld.data.logos import by_brand, read_catalogue, read_heldout


@dataclass(frozen=True)
class EmbedderTrainConfig:
    out: str
    logos: str
    heldout: str
    backgrounds: tuple[str, ...] = ()
    real_instances: str | None = None  # yologo-style folder: each box in its train split is its own class
    real_brands: str | None = None  # LogoDet-3K-style folder with labels_brand/
    val_fraction: float = 0.1
    dim: int = 256
    size: int = 112
    temperature: float = 0.05
    classes_per_batch: int = 32
    samples_per_class: int = 2
    real_fraction: float = 0.25
    warmup_steps: int = 150
    lr_backbone: float = 3e-4
    lr_head: float = 2e-3
    lr_proxies: float = 2e-2
    weight_decay: float = 1e-4
    frozen_blocks: int = 4
    max_minutes: float = 60.0
    checkpoint_minutes: float = 5.0
    workers: int = 1
    threads: int = 0  # 0: all cores
    seed: int = 0


def build_classes(cfg: EmbedderTrainConfig):
    """(train canonical classes, real classes, train brands, val brands)."""
    from osld.data.yolo import yologo_split
    from osld.embedder.data import brand_crop_classes, brand_split, canonical_classes, yolo_crop_classes

    catalogue = read_catalogue(cfg.logos, exclude=read_heldout(cfg.heldout))
    train_brands, val_brands = brand_split(list(by_brand(catalogue)), cfg.val_fraction)
    canonical = canonical_classes(catalogue, train_brands)
    real = []
    if cfg.real_instances:
        real_train, _ = yologo_split(cfg.real_instances)  # the val part stays unseen by every model
        real += yolo_crop_classes(real_train)
    if cfg.real_brands:
        real += brand_crop_classes(Path(cfg.real_brands))[1]
    return canonical, real, train_brands, val_brands


def _save_atomic(obj, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_embedder(cfg: EmbedderTrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train for ``cfg.max_minutes`` (resuming from ``out/last.pt`` if asked); returns the checkpoint path."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from osld.embedder.data import BalancedBatchSampler, ClassDataset, SampleRenderer
    from osld.embedder.model import EmbeddingNet, NormSoftmaxLoss

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads or (os.cpu_count() or 1))
    torch.manual_seed(cfg.seed)
    canonical, real, train_brands, val_brands = build_classes(cfg)
    (out / "split.json").write_text(json.dumps({"train_brands": train_brands, "val_brands": val_brands}))
    n_classes = len(canonical) + len(real)
    model = EmbeddingNet(cfg.dim, pretrained=True, frozen_blocks=cfg.frozen_blocks)
    loss_fn = NormSoftmaxLoss(n_classes, cfg.dim, cfg.temperature)
    opt = torch.optim.AdamW(
        [
            {"params": model.backbone_parameters(), "lr": cfg.lr_backbone, "name": "backbone"},
            {"params": model.head_parameters(), "lr": cfg.lr_head, "name": "head"},
            {"params": loss_fn.parameters(), "lr": cfg.lr_proxies, "weight_decay": 0.0, "name": "proxies"},
        ],
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    step, minutes_before = 0, 0.0
    last = out / "last.pt"
    if resume and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        opt.load_state_dict(state["opt"])
        step, minutes_before = int(state["step"]), float(state["minutes"])
    backgrounds = [p for d in cfg.backgrounds for p in iter_image_files([d])]
    renderer = SampleRenderer(backgrounds, size=cfg.size)
    dataset = ClassDataset(list(canonical) + list(real), renderer)
    sampler = BalancedBatchSampler(len(canonical), len(real), cfg.classes_per_batch, cfg.samples_per_class,
                                   cfg.real_fraction, seed=cfg.seed, start_step=step)

    def collate(batch):
        x = torch.from_numpy(np.stack([b[0] for b in batch]))
        y = torch.tensor([b[1] for b in batch])
        return x, y

    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers, collate_fn=collate,
                        persistent_workers=cfg.workers > 0, prefetch_factor=4 if cfg.workers else None)
    started = last_ckpt = time.time()
    budget_s = cfg.max_minutes * 60
    total_minutes = minutes_before + cfg.max_minutes
    log = open(out / "train_log.jsonl", "a")  # noqa: SIM115  (closed after the loop; one handle for the run)
    bar = tqdm(desc="train embedder", unit="step", disable=not progress, initial=step)
    ema = None

    def save() -> None:
        _save_atomic({"model": model.state_dict(), "loss": loss_fn.state_dict(), "opt": opt.state_dict(),
                      "step": step, "minutes": minutes_before + (time.time() - started) / 60,
                      "config": json.dumps(asdict(cfg)), "n_classes": n_classes}, last)

    model.train()
    for x, y in loader:
        elapsed = time.time() - started
        if elapsed > budget_s:
            break
        warm = step < cfg.warmup_steps
        frac = (minutes_before + elapsed / 60) / total_minutes
        decay = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        for g, base in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = 0.0 if (warm and g["name"] == "backbone") else base * decay
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.3f}", warm=warm)
        if step % 20 == 0:
            log.write(json.dumps({"step": step, "loss": round(ema, 4), "lr_scale": round(decay, 4),
                                  "minutes": round(minutes_before + elapsed / 60, 2)}) + "\n")
            log.flush()
        if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
            save()
            last_ckpt = time.time()
    save()
    bar.close()
    log.close()
    return last


def load_trained(checkpoint: str | Path):
    """The ``EmbeddingNet`` (eval mode) and its config from a training checkpoint."""
    import torch

    from osld.embedder.model import EmbeddingNet

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    cfg = json.loads(state["config"])
    model = EmbeddingNet(cfg["dim"], pretrained=False, frozen_blocks=cfg["frozen_blocks"])
    model.load_state_dict(state["model"])
    return model.eval(), cfg, state


def export_onnx(model, out: str | Path, size: int) -> Path:
    """Export to ONNX (input ``images`` float32 (n, 3, size, size) RGB 0..255, output ``embeddings`` (n, d))."""
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    model = model.eval()
    dummy = torch.zeros(2, 3, size, size)
    torch.onnx.export(model, (dummy,), str(tmp), input_names=["images"], output_names=["embeddings"],
                      dynamic_axes={"images": {0: "n"}, "embeddings": {0: "n"}}, opset_version=17, dynamo=False)
    os.replace(tmp, out)
    return out
