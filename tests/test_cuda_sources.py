"""The project's CUDA sources (``simulate/cuda/``, ``gpu/cuda/``) and their loader
(:mod:`gpu.cuda_module`), on the CPU: every ``.cu`` file compiles with nvcc, with the options
that NVRTC gets, where nvcc is on PATH; the generated activation codes are those of
:data:`theory.activations.FAMILIES`; the Philox generator's NumPy reference reproduces
Random123, and on a device (``gpu`` marker) the kernel reproduces the reference."""

import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import gpu.gemv as gemv
import simulate.gpu_kernels as sim_kernels
from gpu import cuda_module
from simulate.seeding import network_keys
from theory.activations import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("theory", "simulate", "analysis", "gpu", "train")

#: every .cu file of the project: (its path, its options beside the include path, the
#: kernels it must export)
PROGRAMS = {
    "simulate/cuda/samplers.cu": (sim_kernels.SOURCE_PATH, sim_kernels.compile_options(), sim_kernels.KERNELS),
    "gpu/cuda/sparse_gemv.cu": (gemv.SOURCE_PATH, gemv.compile_options(), gemv.all_kernel_names()),
}


def _project_files(pattern):
    return sorted(p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob(pattern))


def test_every_cu_file_is_a_known_program():
    """A new .cu file must be listed here (and so compiled below)."""
    assert _project_files("*.cu") == sorted(PROGRAMS)
    assert all(path == ROOT / name for name, (path, *_) in PROGRAMS.items())


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_is_the_file_and_its_headers_digest(name):
    """NVRTC gets the file as it is (its quoted includes found through -I), no system
    header, every kernel defined, and the digest of the headers beside it."""
    path, options, kernels = PROGRAMS[name]
    program = cuda_module.program(path)
    assert program.startswith(path.read_text())
    assert re.search(r"// headers beside this file: sha256 [0-9a-f]{64}\n$", program)
    assert "#include <" not in program  # NVRTC without system headers
    for included in re.findall(r'^\s*#\s*include\s+"([^"]+)"', program, re.M):
        assert (path.parent / included).is_file(), included
    for kernel in kernels:
        assert re.search(rf'extern "C"[^;{{]*\b{kernel}\b|SPARSE_GEMV_KERNEL\({kernel},', program), kernel
    assert cuda_module.compile_options(path, options) == (f"-I{path.parent}", *options)


def test_every_header_is_included():
    included = {
        (path.parent / header).relative_to(ROOT).as_posix()
        for path, *_ in PROGRAMS.values()
        for source in [path, *path.parent.glob("*.cuh")]
        for header in re.findall(r'^\s*#\s*include\s+"([^"]+)"', source.read_text(), re.M)
    }
    assert sorted(included) == _project_files("*.cuh")


def test_modules_import_without_cupy():
    """With ``import cupy`` failing, the GPU modules import and their options are built."""
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "import simulate.gpu, gpu.gemv, gpu.bench.gpu, simulate.gpu_kernels as s\n"
        "assert s.compile_options() and gpu.gemv.compile_options()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the loader


def _fake_cupy(compiled):
    class RawModule:
        def __init__(self, *, code, options):
            self.code, self.options = code, options

        def compile(self):
            compiled.append(self.options)

    fake = types.ModuleType("fake_cupy")
    fake.RawModule = RawModule
    return fake


def test_load_module_compiles_the_program_with_its_include_path_now(tmp_path):
    (tmp_path / "k.cu").write_text('#include "h.cuh"\nint k;\n')
    (tmp_path / "h.cuh").write_text("int h;\n")
    compiled = []
    module = cuda_module.load_module(tmp_path / "k.cu", options=("-DA=1",), cupy=_fake_cupy(compiled))
    assert module.code == cuda_module.program((tmp_path / "k.cu").resolve())
    assert module.options == (f"-I{tmp_path.resolve()}", "-DA=1")
    assert compiled == [module.options]


def test_a_header_edit_changes_the_program(tmp_path):
    """CuPy's disk cache is keyed by the program text: the headers' digest is in it."""
    (tmp_path / "k.cu").write_text('#include "h.cuh"\n')
    (tmp_path / "h.cuh").write_text("int h;\n")
    before = cuda_module.program.__wrapped__(tmp_path / "k.cu")
    (tmp_path / "h.cuh").write_text("int h2;\n")
    assert cuda_module.program.__wrapped__(tmp_path / "k.cu") != before


# ---------------------------------------------------------------- generated activation codes


def test_activation_defines_are_the_families_kernel_codes():
    defines = {name: int(value) for name, value in sim_kernels.activation_defines()}
    assert defines == {f"ACT_{name.upper()}": cls.kernel_code for name, cls in FAMILIES.items()}
    assert set(defines.values()) == {cls.kernel_code for cls in FAMILIES.values()}
    for name, code in defines.items():
        assert f"-D{name}={code}" in sim_kernels.compile_options(), name


def test_activation_header_names_every_code_and_no_literal():
    """Every family's code has a case label in phi and phi' of the header, which uses only
    generated ACT_* names (no bare integer case labels)."""
    header = (ROOT / "simulate/cuda/activations.cuh").read_text()
    defines = {name: int(value) for name, value in sim_kernels.activation_defines()}
    assert not re.search(r"case\s+\d", header)
    assert not re.search(r"code\s*[=!]=\s*\d", header)
    used = set(re.findall(r"\bACT_[A-Z_]+\b", header))
    assert used <= set(defines), used - set(defines)
    for function in ("act_phi", "act_dphi"):
        body = header[header.index(f"double {function}("):]
        body = body[: body.index("\n}\n")]
        covered = {defines[name] for name in re.findall(r"case\s+(ACT_[A-Z_]+)\s*:", body)}
        assert covered == set(defines.values()), (function, covered)


# ---------------------------------------------------------------- nvcc


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_compiles_with_nvcc(name, tmp_path):
    """What NVRTC compiles (the program text, the include path, the options) compiles with
    nvcc for sm_90 and exports every kernel."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not on PATH")
    path, options, kernels = PROGRAMS[name]
    source, ptx = tmp_path / path.name, tmp_path / "out.ptx"
    source.write_text(cuda_module.program(path))
    result = subprocess.run(
        ["nvcc", "-arch=sm_90", "--ptx", *cuda_module.compile_options(path, options), "-o", str(ptx), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    text = ptx.read_text()
    for kernel in kernels:
        assert f".entry {kernel}(" in text, kernel


# ---------------------------------------------------------------- the generator (simulate/cuda/philox.cuh)

_KAT = [  # Random123 kat_vectors, philox4x32 10: counter words, key words, output
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def _philox_numpy(counters, keys):
    """Philox4x32-10 in NumPy (reference for the kernel): counters (n, 4), keys (n, 2)."""
    mask = np.uint64(0xFFFFFFFF)
    c = [np.asarray(counters, np.uint64)[:, i] for i in range(4)]
    k0, k1 = (np.asarray(keys, np.uint64)[:, i] for i in range(2))
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
        k0 = (k0 + np.uint64(0x9E3779B9)) & mask
        k1 = (k1 + np.uint64(0xBB67AE85)) & mask
    return np.stack(c, axis=1).astype(np.uint32)


def _normals_numpy(words):
    """Box-Muller of the kernel's normal2 from Philox words (n, 4)."""
    w = words.astype(np.float64)
    scale = 1.0 / 9007199254740992.0
    u1 = 1.0 - (np.floor(w[:, 0] / 32) * 67108864.0 + np.floor(w[:, 1] / 64)) * scale
    u2 = (np.floor(w[:, 2] / 32) * 67108864.0 + np.floor(w[:, 3] / 64)) * scale
    r = np.sqrt(-2.0 * np.log(u1))
    return np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], axis=1)


def test_numpy_philox_reference_matches_random123():
    """The NumPy reference used below reproduces Random123's known-answer vectors."""
    for counter, key, expected in _KAT:
        assert tuple(_philox_numpy([counter], [key])[0]) == expected


@pytest.mark.gpu
def test_gpu_generator_is_philox4x32_10_with_box_muller():
    """The kernel's Philox words equal Random123's known answers and the NumPy reference;
    its normals equal Box-Muller of them to 1e-12; 10^6 of them pass a KS test against
    N(0, 1) (p < 1e-6: false-failure probability 1e-6)."""
    import cupy

    k = sim_kernels.kernels()
    rows = np.array([list(c) + list(key) for c, key, _ in _KAT], np.uint32)
    out = cupy.empty((len(_KAT), 4), cupy.uint32)
    k["philox_words"]((1,), (32,), (cupy.asarray(rows), out, np.int32(len(_KAT))))
    assert [tuple(r) for r in cupy.asnumpy(out)] == [e for _, _, e in _KAT]

    n = 500_000
    key = network_keys(0, 100, 7, 8)[0]
    rows = np.zeros((n, 6), np.uint32)
    rows[:, 0] = np.arange(n) % 1000
    rows[:, 1] = np.arange(n) // 1000
    rows[:, 4:] = key
    normals = cupy.empty((n, 2))
    k["philox_normals"](((n + 255) // 256,), (256,), (cupy.asarray(rows), normals, np.int32(n)))
    normals = cupy.asnumpy(normals)
    expected = _normals_numpy(_philox_numpy(rows[:, :4], rows[:, 4:]))
    np.testing.assert_allclose(normals, expected, rtol=1e-12, atol=1e-12)
    assert stats.kstest(normals.ravel(), stats.norm.cdf).pvalue > 1e-6
