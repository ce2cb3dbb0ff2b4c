"""The benchmark harness of the sparse GEMV (arXiv 2602.05779, App. F / Table 3), apart from
the kernel: ``python -m gpu.bench`` (:mod:`gpu.bench.__main__`) runs :mod:`gpu.bench.gpu` on
a CUDA device or its CPU fallback :mod:`gpu.bench.cpu`, timed by :mod:`gpu.bench.timing`,
with NVML energy (:mod:`gpu.bench.energy`) and the published figures and targets
(:mod:`gpu.bench.table3`)."""
