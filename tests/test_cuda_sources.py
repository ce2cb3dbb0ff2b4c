"""The project's CUDA sources (``simulate/cuda/``, ``gpu/cuda/``) and their loader
(:mod:`gpu.cuda_module`), on the CPU: every ``.cu`` file assembles without CuPy, compiles
with nvcc where nvcc is on PATH, and the generated activation codes are those of
:data:`theory.activations.FAMILIES`."""

import re
import shutil
import subprocess
import sys
import types

import pytest

import gpu.cuda_source as gemv_source
import simulate.gpu_kernels as sim_kernels
from gpu import cuda_module
from gpu.cuda_module import ROOT, assemble, define_lines
from theory.activations import FAMILIES

PACKAGES = ("theory", "simulate", "analysis", "gpu", "train")

#: every .cu file of the project: (assembled source, nvcc/NVRTC options, generated
#: defines, kernels it must export)
PROGRAMS = {
    "simulate/cuda/samplers.cu": (
        sim_kernels.cuda_source, sim_kernels.compile_options, sim_kernels.generated_defines, sim_kernels.KERNELS
    ),
    "gpu/cuda/sparse_gemv.cu": (
        gemv_source.cuda_source, gemv_source.compile_options, tuple, gemv_source.all_kernel_names()
    ),
}


def _project_files(pattern):
    return sorted(p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob(pattern))


def test_every_cu_file_is_a_known_program():
    """A new .cu file must be listed here (and so assembled and compiled below)."""
    assert _project_files("*.cu") == sorted(PROGRAMS)


@pytest.mark.parametrize("path", sorted(PROGRAMS))
def test_cu_file_assembles_with_its_headers_inlined(path):
    source_fn, _, defines_fn, kernels = PROGRAMS[path]
    source = source_fn()
    assert not re.search(r'^\s*#\s*include\s+"', source, re.M), "a quoted include was left unresolved"
    assert "#include <" not in source  # NVRTC without include paths: no system headers
    assert f'#line 1 "{path}"' in source
    for name, value, *_ in defines_fn():
        assert re.search(rf"^#define {name} {re.escape(value)}\b", source, re.M), name
    for kernel in kernels:
        assert re.search(rf'extern "C"[^;{{]*\b{kernel}\b|SPARSE_GEMV_KERNEL\({kernel},', source), kernel
    included = re.findall(r'^#line 1 "([^"]+)"$', source, re.M)
    assert included[0] == path and len(included) == len(set(included)), "a file was inlined twice"
    source_lines = set(source.splitlines())
    for file in included:
        lines = (ROOT / file).read_text().splitlines()
        assert {line for line in lines if not line.lstrip().startswith("#include")} <= source_lines, file


def test_every_header_is_used():
    used = set()
    for path, (source_fn, *_rest) in PROGRAMS.items():
        used |= set(re.findall(r'^#line 1 "([^"]+\.cuh)"$', source_fn(), re.M))
    assert sorted(used) == _project_files("*.cuh")


def test_sources_assemble_and_modules_import_without_cupy():
    """With ``import cupy`` failing, the modules import and every source assembles."""
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "import simulate.gpu, gpu.gemv, simulate.gpu_kernels as s, gpu.cuda_source as g\n"
        "assert s.cuda_source() == s.CUDA_SOURCE and g.cuda_source() == g.CUDA_SOURCE\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the loader


def test_assemble_inlines_each_file_once_with_line_markers(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.cuh").write_text('#include "sub/b.cuh"\nint a;\n')
    (tmp_path / "sub" / "b.cuh").write_text("int b;\n")
    main = '// main\n#include "a.cuh"\n#include "sub/b.cuh"  // again\nint m;\n#include <x.h>\n'
    (tmp_path / "main.cu").write_text(main)
    source = assemble(tmp_path / "main.cu", (("N", "3", "why"), ("M", "1u")), origin="here")
    lines = source.splitlines()
    assert lines[:3] == ["// Generated in Python by here: do not edit here.", "#define N 3  // why", "#define M 1u"]
    body = [line for line in lines[3:] if not line.startswith(("#line", "// ----"))]
    assert body == ["// main", "int b;", "int a;", "int m;", "#include <x.h>"]
    assert source.count("int b;") == 1
    assert '#line 3 "' in source and source.count("#line 1 ") == 3


def test_assemble_reports_a_missing_include(tmp_path):
    (tmp_path / "main.cu").write_text('int x;\n#include "nowhere.cuh"\n')
    with pytest.raises(FileNotFoundError, match=r"main\.cu:2: .*nowhere\.cuh"):
        assemble(tmp_path / "main.cu")


def test_define_lines_reject_bad_names():
    assert define_lines(()) == ""
    with pytest.raises(ValueError, match="macro"):
        define_lines((("1BAD", "0"),))


def test_load_module_caches_per_device_source_and_options(tmp_path):
    """One RawModule per (device, source, options), compiled eagerly on its device."""
    events = []
    current = {"id": 0}

    class Device:
        def __init__(self, device_id=None):
            self.id = current["id"] if device_id is None else device_id

        def __enter__(self):
            self.saved, current["id"] = current["id"], self.id
            return self

        def __exit__(self, *exc):
            current["id"] = self.saved

    class RawModule:
        def __init__(self, *, code, options, name_expressions):
            self.code, self.options = code, options

        def compile(self):
            events.append((current["id"], self.options))

    fake = types.ModuleType("fake_cupy")  # hashable, as the real module
    fake.cuda, fake.RawModule = types.SimpleNamespace(Device=Device), RawModule
    (tmp_path / "k.cu").write_text("int k;\n")
    cuda_module._compiled.cache_clear()
    try:
        first = cuda_module.load_module(tmp_path / "k.cu", options=("-DA=1",), cupy=fake)
        assert cuda_module.load_module(tmp_path / "k.cu", options=("-DA=1",), cupy=fake) is first
        assert cuda_module.load_module(tmp_path / "k.cu", options=("-DA=2",), cupy=fake) is not first
        current["id"] = 1
        other = cuda_module.load_module(tmp_path / "k.cu", options=("-DA=1",), cupy=fake)
        assert other is not first and "int k;" in other.code
        assert events == [(0, ("-DA=1",)), (0, ("-DA=2",)), (1, ("-DA=1",))]
    finally:
        cuda_module._compiled.cache_clear()


# ---------------------------------------------------------------- generated activation codes


def test_activation_defines_are_the_families_kernel_codes():
    defines = {name: int(value) for name, value, *_ in sim_kernels.activation_defines()}
    assert defines == {f"ACT_{name.upper()}": cls.kernel_code for name, cls in FAMILIES.items()}
    assert set(defines.values()) == {cls.kernel_code for cls in FAMILIES.values()}
    source = sim_kernels.CUDA_SOURCE
    for name, code in defines.items():
        assert re.search(rf"^#define {name} {code}\b", source, re.M), name


def test_activation_header_names_every_code_and_no_literal():
    """Every family's code has a case label in phi and phi' of the header, which uses only
    generated ACT_* names (no bare integer case labels)."""
    header = (ROOT / "simulate/cuda/activations.cuh").read_text()
    defines = {name: int(value) for name, value, *_ in sim_kernels.activation_defines()}
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


def _nvcc(tmp_path, source_file, options, ptx_name="out.ptx", extra=()):
    ptx = tmp_path / ptx_name
    result = subprocess.run(
        ["nvcc", "-arch=sm_90", "--ptx", *options, *extra, "-o", str(ptx), str(source_file)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return ptx.read_text()


@pytest.mark.parametrize("path", sorted(PROGRAMS))
def test_assembled_source_compiles_with_nvcc(path, tmp_path):
    """The assembled source (what NVRTC compiles) compiles with nvcc for sm_90 and exports
    every kernel; nvcc on the .cu file itself (includes resolved by nvcc, the generated
    defines as -D) gives the same PTX, so the inlining changes nothing."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not on PATH: the CUDA sources are checked by assembly only")
    source_fn, options_fn, defines_fn, kernels = PROGRAMS[path]
    assembled = tmp_path / "assembled.cu"
    assembled.write_text(source_fn())
    text = _nvcc(tmp_path, assembled, options_fn())
    for kernel in kernels:
        assert f".entry {kernel}(" in text, kernel
    direct = _nvcc(tmp_path, ROOT / path, options_fn(), "direct.ptx",
                   [f"-D{name}={value}" for name, value, *_ in defines_fn()])

    def code(ptx):
        return [line for line in ptx.splitlines() if not line.startswith("//")]

    assert code(direct) == code(text)
