"""``osld train embedder``: SDML (normalized softmax, class-balanced batches) on canonical brands + real crops."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from osld._checkpoint import average_checkpoints as _average_checkpoints
from osld._checkpoint import load_checkpoint as _load_checkpoint
from osld._checkpoint import save_checkpoint
from osld.data.logos import by_brand, read_catalogue, read_heldout, real_brand_key
from osld.data.synth import background_photos
from osld.errors import CheckpointError, ConfigError


@dataclass(frozen=True)
class EmbedderTrainConfig:
    out: str
    logos: str
    heldout: str
    backgrounds: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()  # folders of photos without logos, for the background samples
    background_samples: int = 0  # per batch, beside the class samples (NormSoftmaxLoss's outlier term)
    outlier_weight: float = 0.5
    real_instances: str | None = None  # yologo-style folder: each box in its train split is its own class
    real_brands: tuple[str, ...] = ()  # folders with labels_brand/ (train split only; merged into canonical brands)
    val_fraction: float = 0.1
    dim: int = 256
    size: int = 128
    max_margin: float = 0.3  # rendered crops get 0 to this much of the logo size around it on each side
    chrome_share: float = 0.1  # canonical renders made chrome car emblems (bevelled metal)
    backbone: str = "mobilenet_v2"  # or efficientnet-lite0/1/2 (the [backbones] extra)
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
    hard_fraction: float = 0.5  # share of a batch's canonical classes drawn as proxy neighbours of the others
    hard_refresh_steps: int = 100
    max_minutes: float = 60.0
    checkpoint_minutes: float = 5.0
    workers: int = 1
    threads: int = 0  # 0: all cores
    seed: int = 0


def build_classes(cfg: EmbedderTrainConfig):
    """(classes, class names, n_canonical, train brands, val brands).

    Canonical brand classes come first (ids < n_canonical); real crops of a brand that has canonical images join
    that brand's class (photo positives of it); the other real brands and yologo instances follow as classes of
    their own. Held-out and validation brands never enter; real sets contribute their train split only.
    """
    from osld.data.yolo import yologo_split
    from osld.embedder.data import brand_crop_classes, brand_split, canonical_classes, yolo_crop_classes

    held = read_heldout(cfg.heldout)
    catalogue = read_catalogue(cfg.logos, exclude=held)
    train_brands, val_brands = brand_split(list(by_brand(catalogue)), cfg.val_fraction)
    classes = [list(c) for c in canonical_classes(catalogue, train_brands)]
    names = [f"brand:{b}" for b in train_brands]
    index = {b: i for i, b in enumerate(train_brands)}
    extra: dict[str, list] = {}
    for root in cfg.real_brands:
        for brand, sources in zip(*brand_crop_classes(Path(root), split="train"), strict=True):
            key = real_brand_key(brand)
            if key in held or key in val_brands or not key:
                continue
            if key in index:
                classes[index[key]].extend(sources)
            else:
                extra.setdefault(key, []).extend(sources)
    n_canonical = len(classes)
    for key in sorted(extra):
        classes.append(extra[key])
        names.append(f"real:{key}")
    if cfg.real_instances:
        real_train, _ = yologo_split(cfg.real_instances)  # the val part stays unseen by every model
        for i, c in enumerate(yolo_crop_classes(real_train)):
            classes.append(c)
            names.append(f"instance:{c[0].path.name}:{i}")
    return classes, names, n_canonical, train_brands, val_brands


def load_checkpoint(path: str | Path) -> dict:
    """A training or compact embedder checkpoint, loaded with ``weights_only=True``; one-line errors."""
    return _load_checkpoint(path, "embedder", "model")


def compact(state: dict) -> dict:
    """What the next session needs to continue: fp16 weights and proxies with their class names, no optimizer."""
    return {
        "model": {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()},
        "proxies": state["loss"]["proxies"].half(),
        "class_names": state["class_names"],
        "config": state["config"],
        "steps_total": state["steps_total"],
        "minutes_total": state["minutes_total"],
    }


def average_checkpoints(checkpoints: list[str | Path], out: str | Path) -> Path:
    """Write the element-wise mean of compact checkpoints of one lineage (a "model soup", Wortsman et al. 2022).

    The shipped embedders of sessions 26 and 29 continue or are such means: measured, a mean of a new run and the
    weights it started from kept the run's gains and lost less on real brand photos than the run alone. Proxies,
    class names, config and counters are the last checkpoint's; ``averaged_from`` names the inputs.
    """
    return _average_checkpoints(checkpoints, out, "embedder", "model")


def train_embedder(cfg: EmbedderTrainConfig, resume: bool = False, progress: bool = True,
                   init: str | Path | None = None) -> Path:
    """Train for ``cfg.max_minutes``; returns the training checkpoint path (``OUT/last.pt``).

    ``resume`` continues ``OUT/last.pt`` (with optimizer state); ``init`` starts from a compact checkpoint such
    as the shipped ``weights/embedder.pt``: its weights, and its proxies for every class whose name it knows.
    ``OUT/embedder.pt`` (compact) is written beside ``last.pt`` at every checkpoint.
    """
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from osld.embedder.data import BalancedBatchSampler, ClassDataset, SampleRenderer
    from osld.embedder.model import EmbeddingNet, NormSoftmaxLoss, check_backbone

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pt"
    resume_state = load_checkpoint(last) if resume and last.exists() else None  # fail fast, before data loading
    init_state = load_checkpoint(init) if init and resume_state is None else None
    check_backbone(cfg.backbone)
    for state, source in ((resume_state, last), (init_state, init)):
        saved = json.loads(state["config"]).get("backbone", "mobilenet_v2") if state else cfg.backbone
        if saved != cfg.backbone:
            raise CheckpointError(f"{source}: a {saved} embedder; continue it with --backbone {saved}, "
                                  f"not {cfg.backbone}")
    negatives = background_photos(cfg.negatives, "train") if cfg.background_samples else []
    if cfg.background_samples and not negatives:
        raise ConfigError("background samples need photos without logos (EmbedderTrainConfig.negatives)")
    torch.set_num_threads(cfg.threads or (os.cpu_count() or 1))
    torch.manual_seed(cfg.seed)
    classes, class_names, n_canonical, train_brands, val_brands = build_classes(cfg)
    (out / "split.json").write_text(json.dumps({"train_brands": train_brands, "val_brands": val_brands}))
    n_classes = len(classes)
    model = EmbeddingNet(cfg.dim, pretrained=True, frozen_blocks=cfg.frozen_blocks, backbone=cfg.backbone)
    loss_fn = NormSoftmaxLoss(n_classes, cfg.dim, cfg.temperature, cfg.outlier_weight)
    opt = torch.optim.AdamW(
        [
            {"params": model.backbone_parameters(), "lr": cfg.lr_backbone, "name": "backbone"},
            {"params": model.head_parameters(), "lr": cfg.lr_head, "name": "head"},
            {"params": loss_fn.parameters(), "lr": cfg.lr_proxies, "weight_decay": 0.0, "name": "proxies"},
        ],
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    step, steps_before, minutes_before, minutes_prior = 0, 0, 0.0, 0.0
    unknown_ids: list[int] = []
    if resume_state is not None:
        state = resume_state
        model.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        opt.load_state_dict(state["opt"])
        step, minutes_before = int(state["step"]), float(state["minutes"])
        steps_before = int(state.get("steps_total", step)) - step
        minutes_prior = float(state.get("minutes_total", minutes_before)) - minutes_before
    elif init_state is not None:
        state = init_state
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
        known = {name: i for i, name in enumerate(state.get("class_names", []))}
        with torch.no_grad():
            for i, name in enumerate(class_names):
                if name in known:
                    loss_fn.proxies[i] = state["proxies"][known[name]].float()
        unknown_ids = [i for i, name in enumerate(class_names) if name not in known]
        steps_before = int(state.get("steps_total", 0))
        minutes_prior = float(state.get("minutes_total", 0.0))
        print(f"init from {init}: {sum(n in known for n in class_names)}/{n_classes} proxies reused, "
              f"{steps_before} steps and {minutes_prior:.0f} min of earlier training")
    backgrounds = background_photos(cfg.backgrounds, "train")
    renderer = SampleRenderer(backgrounds, size=cfg.size, max_margin=cfg.max_margin, negatives=negatives,
                             chrome_share=cfg.chrome_share)
    dataset = ClassDataset(classes, renderer)
    sampler = BalancedBatchSampler(n_canonical, n_classes - n_canonical, cfg.classes_per_batch,
                                   cfg.samples_per_class, cfg.real_fraction, seed=cfg.seed, start_step=step,
                                   hard_fraction=cfg.hard_fraction, background_samples=cfg.background_samples)

    if unknown_ids:
        # a class the checkpoint has no proxy for starts at the embedding of one rendering of it, not at random:
        # random proxies would pull the trained projection around during the warm-up
        model.eval()
        with torch.no_grad():
            for i in range(0, len(unknown_ids), 64):
                ids = unknown_ids[i: i + 64]
                x = torch.from_numpy(np.stack([dataset[(c, cfg.seed + c)][0] for c in ids]))
                loss_fn.proxies[ids] = model(x)
        model.train()

    def refresh_neighbours() -> None:
        with torch.no_grad():
            proxies = torch.nn.functional.normalize(loss_fn.proxies[:n_canonical].float(), dim=1)
            sims = proxies @ proxies.T
            sims.fill_diagonal_(-2.0)
            sampler.neighbours = sims.topk(10, dim=1).indices.numpy()

    def collate(batch):
        x = torch.from_numpy(np.stack([b[0] for b in batch]))
        y = torch.tensor([b[1] for b in batch])
        return x, y

    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers, collate_fn=collate,
                        persistent_workers=cfg.workers > 0, prefetch_factor=2 if cfg.workers else None)
    started = last_ckpt = time.time()
    budget_s = cfg.max_minutes * 60
    total_minutes = minutes_before + cfg.max_minutes
    log = open(out / "train_log.jsonl", "a")  # noqa: SIM115  (closed after the loop; one handle for the run)
    bar = tqdm(desc="train embedder", unit="step", disable=not progress, initial=step)
    ema = None

    def save() -> None:
        minutes = minutes_before + (time.time() - started) / 60
        state = {"model": model.state_dict(), "loss": loss_fn.state_dict(), "opt": opt.state_dict(),
                 "step": step, "minutes": minutes, "config": json.dumps(asdict(cfg)), "n_classes": n_classes,
                 "class_names": class_names, "steps_total": steps_before + step,
                 "minutes_total": minutes_prior + minutes}
        save_checkpoint(state, last)
        save_checkpoint(compact(state), out / "embedder.pt")

    model.train()
    if init_state is not None or resume_state is not None:
        refresh_neighbours()
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
        if cfg.hard_fraction > 0 and step % cfg.hard_refresh_steps == 0 and step >= cfg.warmup_steps:
            refresh_neighbours()
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

    from osld.embedder.model import EmbeddingNet

    state = load_checkpoint(checkpoint)
    cfg = json.loads(state["config"])
    model = EmbeddingNet(cfg["dim"], pretrained=False, frozen_blocks=cfg["frozen_blocks"],
                         backbone=cfg.get("backbone", "mobilenet_v2"))
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return model.eval(), cfg, state


def export_onnx(model, out: str | Path, size: int) -> Path:
    """Export to ONNX (input ``images`` float32 (n, 3, size, size) RGB 0..255, output ``embeddings`` (n, d))."""
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    model = model.eval()
    dummy = torch.zeros(2, 3, size, size)
    # torch.export-based exporter (the TorchScript one is deprecated); one file, batch dimension dynamic
    program = torch.onnx.export(model, (dummy,), input_names=["images"], output_names=["embeddings"],
                                dynamic_shapes=({0: torch.export.Dim("n", min=1, max=65_536)},), opset_version=18,
                                dynamo=True, verbose=False)
    program.save(str(tmp), external_data=False)
    os.replace(tmp, out)
    return out
