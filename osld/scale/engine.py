"""``osld detect --engine ray``: the same ``Pipeline`` on Ray Data actors, records streamed back in input order.

The dataset is a table of ``(idx, image, abspath)`` rows cut into blocks; ``map_batches`` hands the blocks to a pool
of ``DetectWorker`` actors (``concurrency`` = workers, ``num_cpus`` = ONNX threads per actor). Each actor loads the
models and builds the registry's index once, then runs ``Pipeline.run`` on its blocks: decoding (in a thread, ahead
of the models), detection, embedding and search are exactly the local engine's, so are the records and the error
records of unreadable files. The dataset keeps input order (Ray Data's ``preserve_order``): records arrive at the
driver in the order the local engine writes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from osld.errors import MissingDependencyError
from osld.output import to_record
from osld.scale.inputs import InputItem
from osld.scale.snapshot import FrozenRegistry, RegistrySnapshot

log = logging.getLogger("osld")


def require_ray():
    """``import ray`` or a ``MissingDependencyError`` naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] part of the extra)
    except ImportError as e:
        raise MissingDependencyError("--engine ray needs Ray Data: pip install 'osld[ray]'") from e
    return ray


@dataclass(frozen=True)
class WorkerSpec:
    """How each actor builds its ``Pipeline`` (``Pipeline.from_pretrained`` arguments).

    Model paths must be readable on every node (None: the weights installed with osld on that node). ``threads``
    are the ONNX (and faiss) threads of one actor, also the CPUs Ray reserves for it.
    """

    detector: str | None = None
    embedder: str | None = None
    device: str = "auto"
    conf: float | None = None
    imgsz: int | None = None
    tile: int = 1
    text: bool = False
    match: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    batch_size: int = 8

    def build(self, snapshot: RegistrySnapshot | None):
        """The actor's ``Pipeline``, matching against ``snapshot`` (None: no registry)."""
        from osld.pipeline import Pipeline

        registry = FrozenRegistry(snapshot) if snapshot is not None else None
        pipe = Pipeline.from_pretrained(registry=None, detector=self.detector, embedder=self.embedder,
                                        device=self.device, conf=self.conf, threads=self.threads, imgsz=self.imgsz,
                                        tile=self.tile, text=self.text, **self.match)
        if registry is not None:
            registry.check_embedder(pipe.embedder.fingerprint)
            registry.embedder = pipe.embedder
            pipe.registry = registry
        return pipe


class DetectWorker:
    """The Ray Data actor: models and index loaded once in ``__init__``, one call per block of inputs."""

    def __init__(self, spec: WorkerSpec, snapshot: RegistrySnapshot | tuple | None = None):
        import faiss
        import ray

        if isinstance(snapshot, tuple):  # (ObjectRef,) from run_ray
            snapshot = ray.get(snapshot[0])
        faiss.omp_set_num_threads(spec.threads)  # this actor's own process: no other user of the setting
        self.spec = spec
        self.pipe = spec.build(snapshot)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images, paths = [str(s) for s in batch["image"]], [str(s) for s in batch["abspath"]]
        records = []
        # one decode thread ahead of the models: the actor's other CPUs (if any) go to onnxruntime
        results = self.pipe.run(paths, batch_size=self.spec.batch_size, decode_threads=1)
        for image, path, res in zip(images, paths, results, strict=True):
            error = res.error
            if error is not None and error.startswith(path):  # name the file as the user gave it, as locally
                error = image + error[len(path):]
            record = to_record(image, res.detections, error)
            record["abspath"] = path
            records.append(json.dumps(record, ensure_ascii=False))
        return {"idx": batch["idx"], "record": np.array(records, dtype=object)}


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Use the Ray instance this process is connected to, else connect to ``address`` (``auto``, ``ray://host:
    10001``) or start a local one (``address`` None), and disconnect afterwards if this call connected."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_workers(ray: Any, threads: int) -> int:
    """Actors that fit the cluster's CPUs at ``threads`` CPUs each (at least one)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1) // threads))


def run_ray(items: Sequence[InputItem], spec: WorkerSpec, snapshot: RegistrySnapshot | None = None,
            workers: int | None = None, rows_per_block: int | None = None) -> Iterator[dict[str, Any]]:
    """Records (``osld detect``'s JSONL schema, with ``abspath``) of ``items``, in input order.

    Needs a connected Ray (``ray_session``). ``workers`` actors (default: as many as the cluster's CPUs allow)
    share blocks of ``rows_per_block`` inputs (default: small enough to give every actor several blocks, at most
    64, so the pool balances and a slow node holds back little).
    """
    import pyarrow as pa

    ray = require_ray()
    if not items:
        return
    workers = workers or cluster_workers(ray, spec.threads)
    rows = rows_per_block or max(1, min(64, math.ceil(len(items) / (4 * workers))))
    table = pa.table({"idx": pa.array(np.arange(len(items), dtype=np.int64)),
                      "image": pa.array([i.image for i in items], pa.string()),
                      "abspath": pa.array([i.abspath for i in items], pa.string())})
    blocks = [table.slice(start, rows) for start in range(0, len(items), rows)]
    ds = ray.data.from_arrow(blocks)
    ctx = ds.context  # this dataset's own copy of the DataContext: nothing process-wide is changed
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False  # osld draws its own bar on the driver
    ctx.print_on_execution_start = False
    # one copy per node in the object store, shared by its actors. Nested in a tuple, the reference is borrowed by
    # each actor (and kept alive by this generator) instead of being a constructor argument that Ray warns
    # a restarted actor could lose
    snapshot_ref = (ray.put(snapshot),) if snapshot is not None else None
    # Ray Data's actor pools restart a lost actor and retry its block (max_restarts / max_task_retries = -1)
    ds = ds.map_batches(DetectWorker, fn_constructor_kwargs={"spec": spec, "snapshot": snapshot_ref},
                        batch_size=rows, batch_format="numpy", num_cpus=spec.threads,
                        compute=ray.data.ActorPoolStrategy(size=workers))
    done = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for idx, text in zip(batch["idx"], batch["record"], strict=True):
            if int(idx) != done:  # cannot happen with preserve_order; a silent reordering would corrupt --resume
                raise RuntimeError(f"Ray returned input {int(idx)} where {done} was expected")
            done += 1
            yield json.loads(text)

