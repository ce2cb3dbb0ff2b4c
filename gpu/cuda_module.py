"""The one loader of the project's CUDA sources (the simulation samplers of
:mod:`simulate.gpu_kernels`, the sparse GEMV of :mod:`gpu.gemv`).

Kernel text lives in ``.cu`` / ``.cuh`` files installed with their package (``simulate/cuda/``,
``gpu/cuda/``; ``pyproject.toml`` lists them as package data) and is read at run time, as
cupyx ships its kernels. A ``.cu`` file includes the headers beside it (``#include
"name.cuh"``); NVRTC finds them through the include path ``-I<folder of the .cu file>``
(:func:`compile_options`), and every value that Python decides (codes that must agree with
Python, such as the activation families' ``kernel_code``, and compile-time sizes) comes as a
``-D`` option. NVRTC (through ``cupy.RawModule``) and ``nvcc`` therefore compile the same
file with the same options.

Caches. CuPy compiles a ``RawModule`` once per device and keeps the result for the life of
the process (``cupy._core.raw._get_raw_module``, memoised per device), and keeps the binary
on disk across processes (``~/.cupy/kernel_cache`` or ``$CUPY_CACHE_DIR``), keyed by the
source text, the options, the compiler and the architecture. The headers are not in that
key, so :func:`program` appends their digest to the text: editing a header recompiles.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

from gpu.backend import require_cupy


@functools.cache
def program(path: Path) -> str:
    """The text NVRTC compiles for the ``.cu`` file ``path``: the file, then a comment with
    the SHA-256 of the ``.cuh`` headers beside it (the part of CuPy's disk-cache key that
    stands for them). Read once per process: the files are package data."""
    headers = hashlib.sha256()
    for header in sorted(path.parent.glob("*.cuh")):
        headers.update(header.name.encode() + b"\0" + header.read_bytes())
    return f"{path.read_text()}\n// headers beside this file: sha256 {headers.hexdigest()}\n"


def compile_options(path: str | Path, options: Iterable[str] = ()) -> tuple[str, ...]:
    """The options of ``path``'s compilation, for NVRTC and nvcc alike: the include path of
    its headers, then ``options``."""
    return (f"-I{Path(path).resolve().parent}", *options)


def load_module(path: str | Path, *, options: Iterable[str] = (), cupy=None):
    """The ``cupy.RawModule`` of the ``.cu`` file ``path`` compiled with
    :func:`compile_options` ``(path, options)`` on the current device, now (a compile error
    surfaces here, not at the first launch). ``cupy``: the module already checked by the
    caller (its :class:`~gpu.backend.GpuUnavailableError` names the caller), else checked
    here."""
    cupy = require_cupy() if cupy is None else cupy
    path = Path(path).resolve()
    module = cupy.RawModule(code=program(path), options=compile_options(path, options))
    module.compile()  # once per device: CuPy memoises the compiled module per device
    return module
