"""Is a folder of carried wheels, with what the device already has, enough for the project?

The lent device has no network: every Python package the project needs that its image
lacks travels as a wheel and is installed with ``pip install --no-index --no-deps``, so
nothing checks the set there. :func:`check` does it here, for the device's interpreter
(CPython 3.12, manylinux x86_64): every requirement of the project, and transitively of
each carried wheel (its ``METADATA`` ``Requires-Dist``, environment markers evaluated for
that interpreter, an extra's lines only where a requirement asks for the extra), must be
met by exactly one carried wheel or by a package of :data:`PREINSTALLED`, with version
specifiers checked where the version is known. Needs only ``packaging``, which the device
has too: :mod:`gpu.device_check.environment` runs the same resolution there against the
installed distributions.
"""

from __future__ import annotations

import email.parser
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging import tags
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

#: the device's interpreter (/work/.library/device/KINDS.md: "python3 is Python 3.12.3")
DEVICE_PYTHON = "3.12.3"
#: environment markers on the device
DEVICE_MARKERS = {
    "implementation_name": "cpython", "implementation_version": DEVICE_PYTHON, "os_name": "posix",
    "platform_machine": "x86_64", "platform_python_implementation": "CPython", "platform_release": "",
    "platform_system": "Linux", "platform_version": "", "python_full_version": DEVICE_PYTHON,
    "python_version": "3.12", "sys_platform": "linux",
}
#: the platform tags a wheel may carry there (glibc 2.39; ``pip download`` fetches with these)
DEVICE_PLATFORMS = tuple(f"manylinux_2_{n}_x86_64" for n in range(39, 4, -1)) + (
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64")
DEVICE_TAGS = frozenset(
    [*tags.cpython_tags((3, 12), abis=["cp312", "abi3", "none"], platforms=DEVICE_PLATFORMS),
     *tags.compatible_tags((3, 12), "cp312", DEVICE_PLATFORMS)]
)
#: extras of the project that the device check needs (``gpu`` is not one: the device brings
#: its own CuPy, which the environment step checks)
EXTRAS = ("test", "train")

# Source: /work/.library/device/KINDS.md, section "Python packages already there" (the
# nvidia-h200 image 'cuda', as last read on a machine on 2026-11-17) and, for the versions,
# its "pip list, as a session saw it" row (2026-11); copied here on 2026-11-28. numpy's
# minor version, 2.5, was also stated by the issue.
_PREINSTALLED_NAMES = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin
jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax
llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack
multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec
patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11
py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio
torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
"""
_PREINSTALLED_VERSIONS = {
    "accelerate": "1.15.0", "botorch": "0.18.1", "cupy-cuda13x": "14.2.0", "gpytorch": "1.15.2",
    "huggingface-hub": "1.33.0", "jax": "0.11.2", "jax-cuda13-pjrt": "0.11.2", "jax-cuda13-plugin": "0.11.2",
    "jaxlib": "0.11.2", "jaxtyping": "0.3.11", "numpy": "2.5.2", "numpyro": "0.21.0", "onnx": "1.23.1",
    "onnx-ir": "1.0.0", "onnxruntime": "1.30.0", "onnxscript": "0.7.2", "pytorch-lightning": "2.6.6",
    "safetensors": "0.8.0", "sentence-transformers": "6.0.1", "sentencepiece": "0.2.2", "tiktoken": "0.14.0",
    "tokenizers": "0.23.2", "torch": "2.11.0", "torch-geometric": "2.8.0.post1", "torchaudio": "2.11.0",
    "torchdiffeq": "0.2.5", "torchmetrics": "1.9.0", "torchvision": "0.26.0", "transformers": "5.17.0",
    "triton": "3.6.0",
}
#: the device's packages: canonical name -> version, or None where it is not known
PREINSTALLED = {canonicalize_name(n): _PREINSTALLED_VERSIONS.get(n) for n in _PREINSTALLED_NAMES.split()}


@dataclass(frozen=True)
class Distribution:
    """What the resolution needs of one distribution."""

    name: str
    version: str | None
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    where: str = "on the device"


def read_wheel(path: Path) -> Distribution:
    """Name, version, ``Requires-Dist`` and ``Requires-Python`` of a wheel (its ``METADATA``)."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise ValueError(f"{path.name}: {len(names)} .dist-info/METADATA files, not one")
        metadata = email.parser.Parser().parsestr(archive.read(names[0]).decode("utf-8"), headersonly=True)
    return Distribution(canonicalize_name(metadata["Name"]), metadata["Version"],
                        tuple(metadata.get_all("Requires-Dist") or ()), metadata.get("Requires-Python"), path.name)


def project_requirements(pyproject: Path, extras: Iterable[str] = EXTRAS) -> list[str]:
    """The dependencies of ``pyproject.toml`` and of its ``extras``."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(r for extra in extras for r in optional[extra])]


def _wanted(req: Requirement, markers: dict[str, str], extras: Iterable[str]) -> bool:
    """Whether ``req`` applies with ``markers`` when ``extras`` of its owner are asked for."""
    return req.marker is None or any(req.marker.evaluate({**markers, "extra": e}) for e in ("", *extras))


def resolve(requirements: Iterable[str], find: Callable[[str], Distribution | None],
            markers: dict[str, str]) -> tuple[list[str], set[str]]:
    """``(problems, used)``: the problems, one line each, of meeting ``requirements`` (the
    project's) and, transitively, those of every distribution that ``find(canonical name)``
    returns (None: missing), with environment ``markers`` (an extra asked for brings in its
    lines); and the names of the distributions used."""
    problems, used, done = [], set(), set()
    queue = [(Requirement(r), (), "the project") for r in requirements]
    while queue:
        req, owner_extras, needed_by = queue.pop(0)
        if not _wanted(req, markers, owner_extras):
            continue
        name = canonicalize_name(req.name)
        dist = find(name)
        if dist is None:
            problems.append(f"missing: {req} (needed by {needed_by})")
            continue
        used.add(name)
        if dist.version is not None and not req.specifier.contains(Version(dist.version), prereleases=True):
            problems.append(f"{name} {dist.version} ({dist.where}) does not satisfy {req} (needed by {needed_by})")
        extras = tuple(sorted(req.extras))
        if (name, extras) not in done:
            done.add((name, extras))
            queue += [(Requirement(line), extras, name) for line in dist.requires]
    return problems, used


def check(wheel_dir: Path, requirements: Iterable[str], preinstalled: dict[str, str | None] = PREINSTALLED
          ) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` of installing the wheels of ``wheel_dir`` on the device for
    ``requirements``: problems (one line each) stop the install or leave a need unmet;
    notes say what is carried but not needed, or shadows a package of the device."""
    problems, notes, carried = [], [], {}
    for path in sorted(wheel_dir.glob("*.whl")):
        try:
            name, _, _, wheel_tags = parse_wheel_filename(path.name)
            dist = read_wheel(path)
        except Exception as err:  # a bad file name, a zip without METADATA: say which file
            problems.append(f"unreadable wheel {path.name}: {err}")
            continue
        if not wheel_tags & DEVICE_TAGS:
            problems.append(f"{path.name}: no tag installable by CPython {DEVICE_MARKERS['python_version']} "
                            "on manylinux x86_64")
        if dist.requires_python and not SpecifierSet(dist.requires_python).contains(DEVICE_PYTHON):
            problems.append(f"{path.name}: Requires-Python {dist.requires_python} excludes {DEVICE_PYTHON}")
        carried.setdefault(canonicalize_name(name), []).append(dist)
    for name, dists in carried.items():
        if len(dists) > 1:
            problems.append(f"{len(dists)} versions of {name} ({', '.join(d.where for d in dists)}): keep one")
        if name in preinstalled:
            notes.append(f"{name} {dists[0].version} shadows the device's {name} {preinstalled[name] or ''}".rstrip())

    def find(name):
        if name in carried:
            return carried[name][0]
        return Distribution(name, preinstalled[name]) if name in preinstalled else None

    unmet, used = resolve(requirements, find, DEVICE_MARKERS)
    notes += [f"{name} is carried but nothing needs it" for name in carried if name not in used]
    return problems + unmet, notes
