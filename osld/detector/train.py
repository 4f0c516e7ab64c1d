"""``osld train detector``: ultralytics YOLO, one class ``logo``, CPU, fully offline, resumable, time-boxed."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from osld._checkpoint import average_checkpoints as _average_checkpoints
from osld._checkpoint import load_checkpoint as _load_checkpoint
from osld._checkpoint import save_checkpoint
from osld._io import atomic_write_bytes
from osld._offline import offline_ultralytics
from osld.data.yolo import REAL_VAL_FRACTION, read_data_yaml, yologo_split
from osld.errors import CheckpointError, ConfigError

MODEL_YAML = Path(__file__).with_name("mobilenet_v2_yolo.yaml")
# ultralytics' auto optimizer picks AdamW at lr 0.002 for a short run; continuing an already trained model at that
# rate forgot most of what it knew within one epoch (session 2: yologo val recall 0.42 -> 0.35), so --init runs
# default to a quarter of it.
FINETUNE_LR0 = 5e-4
BACKBONE_BLOCKS = 18  # mobilenet_v2 features[0..17]; the yaml's Index layers read features 6, 13 and 17


@dataclass(frozen=True)
class DetectorTrainConfig:
    data: tuple[str, ...]  # synthetic data.yaml files (their train split)
    out: str
    real_dirs: tuple[str, ...] = ()  # YOLO folders, each split into train / never-trained-on val by file name
    real_val_fraction: float = REAL_VAL_FRACTION
    model: str = str(MODEL_YAML)
    imgsz: int = 320
    batch: int = 16
    epochs: int = 30
    max_minutes: float = 60.0
    workers: int = 0
    seed: int = 0
    threads: int = 0  # torch threads (0: all cores)
    lr0: float | None = None  # None: ultralytics' auto choice from scratch, FINETUNE_LR0 (AdamW) with --init
    multi_scale: float = 0.0  # each batch resized to imgsz * (1 +- multi_scale), so one model serves several sizes
    # Each real train image is listed this many times: real photos are the distribution users bring, and with
    # thousands of synthetic scenes beside a few hundred photos per set, one listing leaves them under half a batch.
    real_repeat: int = 1
    mosaic: float = 0.5  # share of batches' images built as 2x2 mosaics (more small logos, more context)
    # Freeze the first N of the backbone's 18 mobilenet_v2 blocks (0: train all). Frozen blocks (weights and
    # BatchNorm statistics) skip the backward pass: session 30's epochs with 14 frozen took half the time.
    freeze: int = 0


def _write_lists(cfg: DetectorTrainConfig) -> Path:
    """A data.yaml combining the synthetic train split with the real train split; val = real held-out part."""
    if cfg.real_repeat < 1:
        raise ConfigError(f"real_repeat must be >= 1, got {cfg.real_repeat}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train = [str(p.resolve()) for d in cfg.data for p in read_data_yaml(d, "train")[0]]
    val: list[str] = []
    for real_dir in cfg.real_dirs:
        real_train, real_val = yologo_split(real_dir, cfg.real_val_fraction)
        train += [str(p.resolve()) for p in real_train] * cfg.real_repeat
        val += [str(p.resolve()) for p in real_val]
    if not val:
        val = [str(p.resolve()) for d in cfg.data for p in read_data_yaml(d, "val")[0]]
    (out / "train.txt").write_text("\n".join(train) + "\n")
    (out / "val.txt").write_text("\n".join(val) + "\n")
    yaml_path = out / "data.yaml"
    yaml_path.write_text(f"path: {out.resolve()}\ntrain: train.txt\nval: val.txt\nnames:\n  0: logo\n")
    return yaml_path


def _build_yolo(model_yaml: str | Path, run_dir: Path, state: dict | None = None):
    """An ultralytics ``YOLO`` built from our yaml (copied into the run so exports land there), with weights."""
    from ultralytics import YOLO

    local_yaml = run_dir / Path(model_yaml).name
    if not local_yaml.exists():
        local_yaml.write_text(Path(model_yaml).read_text())
    yolo = YOLO(str(local_yaml), task="detect")
    if state is not None:
        missing, unexpected = yolo.model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"detector checkpoint does not fit {Path(model_yaml).name}: "
                                  f"{len(missing)} missing, {len(unexpected)} unexpected tensors")
    return yolo


def _cpu_settings(threads: int, workers: int):
    """An ultralytics callback applying our thread and worker counts once its trainer is set up.

    ultralytics overrides both for CPU training (``select_device`` sets torch to cores - 1 threads, the trainer
    forces ``workers=0``), which silently halved a 2-core machine for every ``--threads 2`` run before session 12.
    """

    def on_pretrain_routine_start(trainer) -> None:
        import torch

        torch.set_num_threads(threads)
        trainer.args.workers = workers

    return on_pretrain_routine_start


def planned_epochs(budget_minutes: float, elapsed_minutes: float, epochs_done: int) -> int:
    """How many epochs fit in the time budget, counted in whole epochs (at least the ones done)."""
    per_epoch = elapsed_minutes / max(epochs_done, 1)
    return max(epochs_done, int(budget_minutes / per_epoch) if per_epoch > 0 else epochs_done)


def _is_final_eval(trainer) -> bool:
    """ultralytics' final_eval re-runs the epoch-end callbacks after validating its own best.pt, with the last
    epoch's weights in trainer.ema: an epoch-end callback must not act on that call."""
    return not getattr(trainer.validator, "training", True)


def _end_on_whole_epoch(trainer) -> None:
    """An ultralytics ``on_fit_epoch_end`` callback that ends a time-budgeted run on a whole epoch.

    ultralytics' ``time`` mode re-plans after each epoch with ``ceil(budget / mean epoch time)``: a budget of 2.02
    epochs plans 3, so its cosine schedule and ``close_mosaic`` aim at an epoch the budget cuts after a few
    iterations (session 13 stopped such a run by hand). Rounding down plans only epochs that fit.
    """
    if _is_final_eval(trainer) or not trainer.args.time:
        return
    done = trainer.epoch - trainer.start_epoch + 1
    elapsed = (time.time() - trainer.train_time_start) / 60
    epochs = trainer.start_epoch + planned_epochs(trainer.args.time * 60, elapsed, done)
    if epochs != trainer.epochs:
        trainer.epochs = trainer.args.epochs = epochs
        trainer._setup_scheduler()  # as ultralytics does after its own re-plan
        trainer.scheduler.last_epoch = trainer.epoch
    trainer.stop |= trainer.epoch + 1 >= trainer.epochs


def _compact_saver(out: Path, cfg: DetectorTrainConfig, previous: dict, started: float):
    """An ultralytics callback writing ``detector_last.pt``, ``detector_epoch<N>.pt`` (N: the run's epoch count, for
    ``average_checkpoints`` over a run's epochs) and ``detector_best.pt`` after each epoch.

    Only plain tensors and numbers go in (EMA weights in fp16, no optimizer), so the file loads with
    ``torch.load(weights_only=True)`` and never unpickles code.
    """

    epochs_done: list[int] = []

    def on_fit_epoch_end(trainer) -> None:
        import torch

        if _is_final_eval(trainer):  # saving then would count an extra epoch and pair weights with other metrics
            return
        epochs_done.append(trainer.epoch)
        model = trainer.ema.ema if trainer.ema else trainer.model
        fitness = float(trainer.fitness or 0.0)
        ckpt = {
            "state_dict": {k: v.detach().half().clone() for k, v in model.state_dict().items()},
            "model_yaml": Path(cfg.model).name,
            "imgsz": cfg.imgsz,
            "epochs_total": float(previous.get("epochs_total", 0.0)) + len(epochs_done),
            "minutes_total": float(previous.get("minutes_total", 0.0)) + (time.time() - started) / 60,
            "fitness": fitness,
            "torch_threads": torch.get_num_threads(),
            "metrics": json.dumps({k: float(v) for k, v in (trainer.metrics or {}).items()}),
        }
        save_checkpoint(ckpt, out / "detector_last.pt")
        save_checkpoint(ckpt, out / f"detector_epoch{len(epochs_done)}.pt")
        best = out / "detector_best.pt"
        if not best.exists() or fitness >= load_checkpoint(best).get("fitness", -1.0):
            save_checkpoint(ckpt, best)

    return on_fit_epoch_end


def train_detector(cfg: DetectorTrainConfig, init: str | Path | None = None, resume: bool = False) -> Path:
    """Train and return the best compact checkpoint (``OUT/detector_best.pt``). Stops after ``max_minutes``.

    ``init``: a compact checkpoint (e.g. the shipped ``weights/detector.pt``) to continue from: its weights, a
    short warm-up, then the schedule. ``resume``: the same from ``OUT/detector_last.pt`` (weights only; the
    optimizer restarts), so a stopped run continues without unpickling ultralytics' own checkpoints.
    """
    freeze = frozen_layers(cfg.freeze)  # a bad value fails here, before any file is written or model built
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        if not (out / "detector_last.pt").exists():
            raise CheckpointError(f"--resume: {out / 'detector_last.pt'} does not exist (no epoch finished yet)")
        init = out / "detector_last.pt"
    previous = load_checkpoint(init) if init else {}
    with offline_ultralytics(out):
        import torch

        threads = cfg.threads or max(1, os.cpu_count() or 1)
        torch.set_num_threads(threads)
        started = time.time()
        data_yaml = _write_lists(cfg)
        (out / "osld_train_config.json").write_text(json.dumps({**asdict(cfg), "init": str(init or "")}, indent=2))
        model = _build_yolo(cfg.model, out, previous.get("state_dict"))
        if previous:
            # ultralytics rebuilds the model from its yaml unless it believes it holds a checkpoint; this makes it
            # take the weights just loaded (Model.train -> trainer.get_model(weights=self.model)).
            model.ckpt = {"osld_init": str(init)}
        model.add_callback("on_pretrain_routine_start", _cpu_settings(threads, cfg.workers))
        model.add_callback("on_fit_epoch_end", _end_on_whole_epoch)
        model.add_callback("on_fit_epoch_end", _compact_saver(out, cfg, previous, started))
        lr0 = cfg.lr0 if cfg.lr0 is not None else (FINETUNE_LR0 if previous else None)
        schedule = (dict(optimizer="AdamW", lr0=lr0, lrf=0.1, warmup_bias_lr=0.0, cos_lr=True)
                    if lr0 is not None else dict(optimizer="auto"))
        model.train(
            data=str(data_yaml), epochs=cfg.epochs, time=cfg.max_minutes / 60.0, imgsz=cfg.imgsz,
            batch=cfg.batch, device="cpu", workers=cfg.workers, project=str(out.resolve()), name="train",
            exist_ok=True, seed=cfg.seed, amp=False, plots=True, patience=100,
            warmup_epochs=0.1 if previous else 3.0, cache=False, verbose=False,
            close_mosaic=1, mosaic=cfg.mosaic, scale=0.5, degrees=5.0, fliplr=0.0, multi_scale=cfg.multi_scale,
            freeze=freeze, **schedule,
        )
        minutes = (time.time() - started) / 60
        with open(out / "osld_train_log.jsonl", "a") as f:
            f.write(json.dumps({"init": str(init or ""), "minutes": round(minutes, 1)}) + "\n")
    best = out / "detector_best.pt"
    return best if best.exists() else out / "detector_last.pt"


def frozen_layers(blocks: int) -> list[str] | None:
    """ultralytics' ``freeze`` entries for the backbone's first ``blocks`` mobilenet_v2 blocks (None: none).

    The whole torchvision backbone is layer 0 of the YOLO yaml, so an int (first N *layers*) would freeze all of
    it or nothing; ultralytics matches each entry as the name prefix ``model.{entry}.``.
    """
    if not 0 <= blocks <= BACKBONE_BLOCKS:
        raise ConfigError(f"freeze must be 0..{BACKBONE_BLOCKS} backbone blocks, got {blocks}")
    return [f"0.m.{i}" for i in range(blocks)] or None


def load_checkpoint(path: str | Path) -> dict:
    """A compact detector checkpoint, loaded with ``weights_only=True`` (no code runs); one-line errors."""
    return _load_checkpoint(path, "detector", "state_dict")


def average_checkpoints(checkpoints: list[str | Path], out: str | Path) -> Path:
    """Write the element-wise mean of compact checkpoints of one lineage (a "model soup", Wortsman et al. 2022).

    Meant for a run continued from ``weights/detector.pt`` and that starting point: measured in session 14, the
    average kept most of the new run's real-photo recall and the older weights' rejection of logo-free photos.
    The other fields (epochs, minutes, metrics) are the last checkpoint's; ``averaged_from`` names the inputs.
    """
    return _average_checkpoints(checkpoints, out, "detector", "state_dict", same=("model_yaml",))


def export_onnx(checkpoint: str | Path, out: str | Path, imgsz: int = 320) -> Path:
    """Export a compact checkpoint to ONNX with a dynamic batch axis; returns the ONNX path."""
    import tempfile

    out = Path(out)
    ckpt = load_checkpoint(checkpoint)
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp, offline_ultralytics(tmp):
        model = _build_yolo(MODEL_YAML.with_name(ckpt.get("model_yaml", MODEL_YAML.name)), Path(tmp),
                            ckpt["state_dict"])
        os.chdir(tmp)  # the exporter writes next to a name relative to the working directory
        try:
            exported = Path(model.export(format="onnx", imgsz=imgsz, dynamic=True, simplify=False, opset=17))
            data = exported.resolve().read_bytes()
        finally:
            os.chdir(cwd)
    return atomic_write_bytes(out, data)
