"""Input validation shared by the CPU reference and the GPU kernel, run before any work."""
import numpy as np


def _type_name(t) -> str:
    return f"{t.__module__.split('.')[0]}.{t.__name__}"


def check_vectors(x, n: int, array_type) -> int:
    """Validate ``x`` (n,) or (B, n), float32, C-contiguous, of ``array_type``; return B.

    A 1-D ``x`` is one vector (B = 1).  Raises TypeError for the wrong array
    type or dtype and ValueError for a wrong shape or memory layout.
    """
    if not isinstance(x, array_type):
        raise TypeError(f"x must be a {_type_name(array_type)}, got {_type_name(type(x))}")
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (n,) or (B, n), got {x.shape}")
    if x.shape[-1] != n:
        raise ValueError(f"x has {x.shape[-1]} entries per vector but W has n = {n} columns")
    batch = 1 if x.ndim == 1 else x.shape[0]
    if batch < 1:
        raise ValueError("x must hold at least one vector")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous (use ascontiguousarray)")
    return batch


def check_out(out, shape: tuple, array_type) -> None:
    """Validate a caller-supplied output: ``array_type``, float32, ``shape``, C-contiguous."""
    if not isinstance(out, array_type):
        raise TypeError(f"out must be a {_type_name(array_type)}, got {_type_name(type(out))}")
    if out.dtype != np.float32:
        raise TypeError(f"out must be float32, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
