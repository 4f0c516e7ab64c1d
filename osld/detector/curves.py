"""``osld evaluate detector --curve``: recall against proposals per image as the threshold falls, one line per set."""

from __future__ import annotations

import io
import os
from pathlib import Path

from osld._io import atomic_write_bytes
from osld.detector.evaluate import TOP_K_PROPOSALS


def operating_curves_png(results: dict[str, dict], path: str | os.PathLike, marked_conf: float | None = None
                         ) -> Path:
    """One line per set of ``evaluate_detector`` results (its ``curve``), recall@0.5 against mean proposals per
    image, log x; a dot where each set stands at ``marked_conf`` and a dashed line at the proposal budget
    (``TOP_K_PROPOSALS``). Sets named ``..., pooled`` are drawn thick."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display needed; leaves an interactive backend alone if one is set
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), dpi=100)
    ax = fig.subplots()
    for name, r in results.items():
        curve = r["curve"]
        shown = [i for i, n in enumerate(curve["proposals_per_image"]) if n > 0]  # log x: no room for zero
        pooled = name.endswith("pooled")
        (line,) = ax.plot([curve["proposals_per_image"][i] for i in shown], [curve["recall"][i] for i in shown],
                          lw=2.5 if pooled else 1.2,
                          color="black" if pooled else None,
                          label=f"{name}: {r[f'recall@0.5_within{TOP_K_PROPOSALS}']:.3f} within {TOP_K_PROPOSALS}")
        if marked_conf is not None:
            i = min(shown, key=lambda k: abs(curve["conf"][k] - marked_conf), default=None)
            if i is None:
                continue
            ax.plot(curve["proposals_per_image"][i], curve["recall"][i], "o", color=line.get_color())
    ax.axvline(TOP_K_PROPOSALS, color="tab:red", ls="--", lw=1, label=f"{TOP_K_PROPOSALS} proposals per image")
    ax.set_xscale("log")
    ax.set(xlabel="proposals per image (mean, log scale)", ylabel="recall@0.5", ylim=(0, 1.01),
           title="recall vs proposals as the confidence threshold falls"
                 + (f" (dots: conf {marked_conf:g})" if marked_conf is not None else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
