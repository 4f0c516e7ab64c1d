"""What an install of osld costs on disk: ``python benchmarks/install_size.py``.

Walks the dependency closure of the base install and of ``[dev]`` (pyproject.toml) through the distributions
installed in this environment and sums the sizes of the files each one's RECORD lists. No network, no new venv.
"""

from __future__ import annotations

import contextlib
import os
import re
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# an environment set up before pyproject.toml switched to the headless ultralytics build holds the same package
# under its usual name; count that one, without the GUI opencv it pulls in
ALIASES = {"ultralytics-opencv-headless": ("ultralytics", "opencv-python")}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _size(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        with contextlib.suppress(OSError):  # a RECORD may list a file that was removed since
            total += os.path.getsize(dist.locate_file(f))
    return total


def closure(reqs: list[Requirement]) -> dict[str, metadata.Distribution]:
    env = default_environment()
    seen: dict[str, tuple[metadata.Distribution, set[str]]] = {}
    skip: set[str] = set()
    stack = list(reqs)
    while stack:
        req = stack.pop()
        name = _norm(req.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name not in ALIASES:
                print(f"not installed here: {name}")
                continue
            name, dropped = ALIASES[name]
            skip.add(dropped)
            dist = metadata.distribution(name)
        if name in skip:
            continue
        extras = set(req.extras)
        if name in seen and extras <= seen[name][1]:
            continue
        seen.setdefault(name, (dist, set()))[1].update(extras)
        for spec in dist.requires or []:
            dep = Requirement(spec)
            if any(dep.marker is None or dep.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
                stack.append(dep)
    return {n: d for n, (d, _) in seen.items() if n not in skip}


def main() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = project["optional-dependencies"]
    base = [Requirement(r) for r in project["dependencies"]]
    dev = base + [Requirement(r) for r in extras["train"] + extras["dev"] if not r.startswith("osld")]
    for label, reqs in (("base", base), ("dev", dev)):
        dists = closure(reqs)
        sizes = sorted(((_size(d), n) for n, d in dists.items()), reverse=True)
        cuda = sum(s for s, n in sizes if n.startswith("nvidia-") or n == "triton")
        print(f"{label}: {len(dists)} packages, {sum(s for s, _ in sizes) / 1e9:.2f} GB (CUDA libraries "
              f"{cuda / 1e9:.2f} GB); largest: " + ", ".join(f"{n} {s / 1e6:.0f} MB" for s, n in sizes[:5]))


if __name__ == "__main__":
    main()
