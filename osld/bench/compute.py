"""The compute bound: model FLOPs counted from the ONNX graphs against a measured float32 matmul peak."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

# ---------------------------------------------------------------- compute bound


def onnx_gflops(path: str | Path, input_shape: Sequence[int]) -> float | None:
    """GFLOPs (2 x multiply-adds) of one forward pass, summed over Conv, Gemm and MatMul nodes.

    Shapes come from ``onnx.shape_inference`` with the graph input fixed to ``input_shape``. Element-wise ops,
    pooling and activations are not counted (they are memory-bound and small next to the convolutions).

    Returns:
        GFLOPs, or None when the ``onnx`` package is missing or a counted node has no inferred shape.
    """
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None
    import numpy as np

    model = onnx.load(str(path))
    for d, v in zip(model.graph.input[0].type.tensor_type.shape.dim, input_shape, strict=True):
        d.ClearField("dim_param")
        d.dim_value = int(v)
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int | None]] = {t.name: list(t.dims) for t in model.graph.initializer}
    for vi in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    flops = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        a, w, out = shapes.get(node.input[0]), shapes.get(node.input[1]), shapes.get(node.output[0])
        if not a or not w or not out or None in out or None in w:
            return None
        if node.op_type == "Conv":  # out (n, co, h, w); weight (co, ci / groups, kh, kw)
            flops += 2 * int(np.prod(out)) * int(np.prod(w[1:]))
        else:
            attrs = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
            k = a[-2] if attrs.get("transA", 0) else a[-1]
            if k is None:
                return None
            flops += 2 * int(np.prod(out)) * int(k)
    return flops / 1e9


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an ``n`` x ``n`` numpy matmul (numpy's BLAS, its default threads)."""
    import numpy as np

    rng = np.random.default_rng(8)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9
