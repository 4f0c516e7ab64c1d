"""Scale-out: ``osld detect --engine ray`` runs the same ``Pipeline`` on Ray Data actors (the ``[ray]`` extra).

Modules: ``inputs`` (folders and list files), ``snapshot`` (the read-only registry shipped to workers), ``engine``
(the actor class and the ordered record stream), ``writers`` (Parquet part files, summary from records), ``cli``
(the command body). Cluster set-up, throughput and costs: ``docs/scale-out.md``.

Example:
    >>> from osld.scale import WorkerSpec, collect_inputs, ray_session, run_ray
    >>> with ray_session() as ray:                      # a local Ray; ray_session("auto") joins a cluster
    ...     for record in run_ray(collect_inputs(["photos/"]), WorkerSpec(), workers=2):
    ...         print(record["image"], [d["brand"] for d in record["detections"]])
"""

from osld.scale.engine import DetectWorker, WorkerSpec, ray_session, run_ray
from osld.scale.inputs import InputItem, collect_inputs, read_list_file
from osld.scale.snapshot import FrozenRegistry, RegistrySnapshot
from osld.scale.writers import ParquetPartsWriter, done_parquet

__all__ = ["DetectWorker", "FrozenRegistry", "InputItem", "ParquetPartsWriter", "RegistrySnapshot", "WorkerSpec",
           "collect_inputs", "done_parquet", "ray_session", "read_list_file", "run_ray"]
