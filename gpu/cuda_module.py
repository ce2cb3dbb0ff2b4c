"""The one loader of the project's CUDA sources (the simulation samplers of
:mod:`simulate.gpu_kernels`, the sparse GEMV of :mod:`gpu.gemv`), with one cache policy.

Kernel text lives in ``.cu`` / ``.cuh`` files installed with their package (``simulate/cuda/``,
``gpu/cuda/``; ``pyproject.toml`` lists them as package data), read at run time, as cupyx
ships its kernels. Two steps:

* :func:`assemble` (no CuPy needed): the text of a ``.cu`` file with its quoted includes
  (``#include "name.cuh"``, resolved beside the including file) inlined, each file once,
  with ``#line`` markers so that NVRTC and nvcc errors name the real file and line; and
  before it, the ``#define`` lines that the owning module generates from Python values
  (codes that must agree with Python, such as the activation families' ``kernel_code``).
  Values that are plain compile-time sizes may instead come as ``-D`` options. The result
  needs no include path, so NVRTC (CuPy) and ``nvcc`` compile the same string.
* :func:`load_module`: a compiled ``cupy.RawModule`` of the assembled source.

Cache policy, the same for every module: the assembled text is cached per (file, defines)
for the life of the process (the files are package data, not edited while running), and
the compiled ``RawModule`` once per (current device id, source text, options, name
expressions) (``functools.lru_cache``), compiled eagerly inside that device's context so
that a compile error surfaces at load. Across processes CuPy also caches the compiled
binary on disk (``~/.cupy/kernel_cache``, or ``$CUPY_CACHE_DIR``), keyed by the source,
the options, the compiler version and the architecture: a second run skips NVRTC.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

from gpu.backend import require_cupy

#: where ``#line`` markers name files from (the project root: ``simulate/cuda/x.cuh``)
ROOT = Path(__file__).resolve().parent.parent

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[ \t]*(//.*)?$')

#: one generated ``#define``: (name, value) or (name, value, comment)
Define = tuple[str, ...]


def _display(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def define_lines(defines: Iterable[Define], origin: str = "") -> str:
    """The ``#define`` block prepended to a source: one line per (name, value[, comment])."""
    defines = tuple(defines)
    if not defines:
        return ""
    lines = [f"// Generated in Python{' by ' + origin if origin else ''}: do not edit here."]
    for define in defines:
        name, value, *comment = define
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"not a macro name: {name!r}")
        line = f"#define {name} {value}"
        lines.append(f"{line}  // {comment[0]}" if comment else line)
    return "\n".join(lines) + "\n"


def _inline(path: Path, seen: set[Path]) -> str:
    seen.add(path)
    out = [f'#line 1 "{_display(path)}"']
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _INCLUDE.match(line)
        if match is None:
            out.append(line)
            continue
        header = (path.parent / match.group(1)).resolve()
        if not header.is_file():
            raise FileNotFoundError(f"{_display(path)}:{number}: included file {match.group(1)!r} not found")
        if header not in seen:  # each file once, as with an include guard
            out.append(f"// ---- {line.strip()}")
            out.append(_inline(header, seen))
            out.append(f'#line {number + 1} "{_display(path)}"')
    return "\n".join(out)


@functools.lru_cache(maxsize=None)
def _assemble(path: Path, defines: tuple[Define, ...], origin: str) -> str:
    return define_lines(defines, origin) + _inline(path, set()) + "\n"


def assemble(path: str | Path, defines: Iterable[Define] = (), origin: str = "") -> str:
    """The source of the ``.cu`` file ``path``, ready for NVRTC or nvcc: the generated
    ``defines`` (see :func:`define_lines`; ``origin`` names who generates them), then the
    file with its quoted includes inlined. Needs no CuPy."""
    return _assemble(Path(path).resolve(), tuple(tuple(d) for d in defines), origin)


@functools.lru_cache(maxsize=None)
def _compiled(cupy, device_id: int, source: str, options: tuple[str, ...], name_expressions: tuple[str, ...]):
    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(code=source, options=options, name_expressions=name_expressions or None)
        module.compile()  # now, on this device: errors surface at load
        return module


def load_module(
    path: str | Path,
    *,
    defines: Iterable[Define] = (),
    origin: str = "",
    options: Iterable[str] = (),
    name_expressions: Iterable[str] = (),
    cupy=None,
):
    """The ``cupy.RawModule`` of :func:`assemble` ``(path, defines, origin)`` compiled with
    ``options`` (NVRTC) for the current device, cached once per (device, source, options,
    name expressions). ``cupy``: the module already checked by the caller (its
    :class:`~gpu.backend.GpuUnavailableError` names the caller), else checked here."""
    cupy = require_cupy() if cupy is None else cupy
    source = assemble(path, defines, origin)
    return _compiled(cupy, cupy.cuda.Device().id, source, tuple(options), tuple(name_expressions))
