"""``squall.deploy``: put squall, its dependencies and yours into an AWS Lambda function.

The package holds the squall wheel (built for Lambda's Linux: manylinux2014, see the README), its
dependencies (cloudpickle at the caller's version) and your requirements, all as binary wheels for
the function's platform and Python version. The function's Python minor
version is always the caller's: cloudpickle cannot move functions between minor versions.

Deploying again with nothing changed does nothing: a hash of the package's inputs and the
function's settings is recorded in a tag on the function.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import _native
from ._cache import cache_dir

HANDLER = "squall._lambda.handler"
#: Lambda's limits on a function's code: zipped for a direct upload, and unzipped (layers included).
MAX_ZIPPED_DIRECT = 50 * 1000 * 1000
MAX_UNZIPPED = 250 * 1024 * 1024
#: The glibc of each Python runtime's operating system: python3.11 runs on Amazon Linux 2,
#: later ones on Amazon Linux 2023.
RUNTIME_GLIBC = {"3.11": (2, 26), "3.12": (2, 34), "3.13": (2, 34), "3.14": (2, 34)}
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
#: The first Python whose Lambda runtime has SnapStart.
SNAPSTART_PYTHON = (3, 12)
#: Pure-Python dependencies pinned to the caller's versions (cloudpickle must match: it moves
#: functions). pyarrow and numpy come at the newest version with a wheel for the runtime's glibc
#: (for python3.11 on Amazon Linux 2 that can be older than the caller's; Arrow's format is stable).
PINNED_PACKAGES = ("cloudpickle", "tqdm")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: What a function never uses, removed from the package to keep it far under Lambda's 250 MiB:
#: test suites, C headers and Cython sources, and pyarrow's Flight libraries (nothing else links
#: them; its other libraries all load together).
TRIM = (
    "pyarrow/tests", "pyarrow/include", "pyarrow/src", "numpy/*/tests", "numpy/tests",
    "pyarrow/*.pyx", "pyarrow/*.pxd", "pyarrow/*.pxi", "pyarrow/_pyarrow_cpp_tests*",
    "pyarrow/libarrow_flight.so*", "pyarrow/libarrow_python_flight.so*", "pyarrow/_flight*",
    "pyarrow/flight.py",
)  # fmt: skip


@dataclass(frozen=True)
class Package:
    """A built function package."""

    #: The zip file.
    path: Path
    #: Its size in bytes.
    zipped_bytes: int
    #: The size of its files once unzipped.
    unzipped_bytes: int
    #: Hash of the package's inputs (wheel, requirements, Python version, architecture).
    hash: str


@dataclass(frozen=True)
class Deployment:
    """What :func:`deploy` did."""

    #: The function's name.
    function_name: str
    #: "created", "updated" or "unchanged".
    status: str
    #: The runtime, e.g. "python3.11".
    runtime: str
    #: The hash recorded on the function.
    hash: str
    #: Size of the zip uploaded, None when unchanged.
    zipped_bytes: int | None = None
    #: Size of the package unzipped, None when unchanged.
    unzipped_bytes: int | None = None
    #: The functions made (``function_name`` first, then its other shards).
    functions: tuple[str, ...] = ()


def _caller_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _check_python(python_version: str | None) -> str:
    caller = _caller_python()
    if python_version is not None and python_version != caller:
        raise ValueError(
            f"python_version={python_version!r} differs from this interpreter's {caller}: "
            "functions are shipped with cloudpickle, which only works between equal Python "
            f"minor versions. Deploy from a Python {python_version} environment instead."
        )
    if caller not in RUNTIME_GLIBC:
        raise ValueError(
            f"AWS Lambda has no python{caller} runtime squall supports "
            f"({', '.join(sorted(RUNTIME_GLIBC))}): run squall from one of those versions"
        )
    return caller


def _check_snapstart(snapstart: bool, python: str) -> None:
    if snapstart and tuple(map(int, python.split("."))) < SNAPSTART_PYTHON:
        least = ".".join(map(str, SNAPSTART_PYTHON))
        raise ValueError(
            f"snapstart=True needs Python {least} or later (AWS Lambda has SnapStart for "
            f"python{least}+ runtimes); this is Python {python}, and the function's Python is "
            f"always the caller's: deploy from Python {least}+ or leave snapstart off"
        )


def _platform_tags(python: str, architecture: str) -> list[str]:
    arch = ARCHITECTURES[architecture]
    major, newest = RUNTIME_GLIBC[python]
    tags = [f"manylinux_{major}_{minor}_{arch}" for minor in range(17, newest + 1)]
    return [*tags, f"manylinux2014_{arch}"]


def _wheel_glibc(wheel: Path) -> tuple[str, list[tuple[int, int]]]:
    """The architecture and the glibc versions a wheel's platform tags require."""
    platform = wheel.name.removesuffix(".whl").split("-")[-1]
    needs: list[tuple[int, int]] = []
    arch = ""
    for tag in platform.split("."):
        if m := re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", tag):
            needs.append((int(m[1]), int(m[2])))
            arch = m[3]
        elif m := re.fullmatch(r"manylinux2014_(\w+)", tag):
            needs.append((2, 17))
            arch = m[1]
    return arch, needs


def find_wheel(
    wheel: str | os.PathLike[str] | None,
    python: str,
    architecture: str | None,
    scratch: Path | None = None,
) -> tuple[Path, str]:
    """The squall wheel to deploy and the architecture it runs on, checked for the runtime:
    ``wheel`` (a wheel, or a folder of wheels), else ``$SQUALL_WHEEL``, else one rebuilt in
    ``scratch`` from the installed squall's files. With ``architecture`` None: arm64 when a
    wheel for it is at hand (Lambda's arm64 GB-second is a fifth cheaper), else x86_64."""
    chosen = wheel or os.environ.get("SQUALL_WHEEL")
    if not chosen:
        if scratch is None:
            raise ValueError("no squall wheel given (wheel= or SQUALL_WHEEL)")
        from ._wheel import installed_wheel

        chosen = installed_wheel(scratch)
    path = Path(chosen)
    paths = sorted(path.glob(f"squall-{_native.__version__}-*.whl")) if path.is_dir() else [path]
    if not paths:
        raise ValueError(f"wheel={str(chosen)!r} holds no squall {_native.__version__} wheel")
    built = {
        p: "arm64" if _wheel_glibc(p)[0] == ARCHITECTURES["arm64"] else "x86_64" for p in paths
    }
    if architecture is None:
        architecture = "arm64" if "arm64" in built.values() else "x86_64"
    path = next((p for p in paths if built[p] == architecture), paths[0])
    if not path.is_file() or path.suffix != ".whl":
        raise ValueError(f"wheel={str(chosen)!r} is not a wheel file")
    version = path.name.split("-")[1]
    if version != _native.__version__:
        raise ValueError(
            f"{path.name} is squall {version} but this driver runs squall {_native.__version__}: "
            "driver and function must run the same squall; rebuild the wheel"
        )
    arch, needs = _wheel_glibc(path)
    newest = RUNTIME_GLIBC[python]
    if arch != ARCHITECTURES[architecture] or not needs or min(needs) > newest:
        raise ValueError(
            f"{path.name} cannot run on Lambda's python{python} {architecture} runtime, which "
            f"has glibc {newest[0]}.{newest[1]}: build the wheel for manylinux2014_"
            f"{ARCHITECTURES[architecture]} (maturin build --zig --compatibility manylinux2014) "
            "and pass wheel='dist/squall-...whl' or set SQUALL_WHEEL"
        )
    return path, architecture


def _check_architecture(architecture: str | None) -> None:
    if architecture is not None and architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture={architecture!r}: use 'x86_64' or 'arm64' (or None: arm64 when possible)"
        )


def _pinned(requirements: Sequence[str]) -> list[str]:
    import importlib.metadata  # only here: importing it costs `import squall` 20 ms

    named = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}
    pins = []
    for name in PINNED_PACKAGES:
        if name not in named:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
    return [*pins, *requirements]


def package_hash(wheel: Path, requirements: Sequence[str], settings: Mapping[str, object]) -> str:
    """Hash of everything that goes into the function: wheel, requirements, settings."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:  # its files, not the zip's bytes: a rebuilt wheel is equal
        for name in sorted(n for n in zf.namelist() if not n.endswith(".dist-info/RECORD")):
            h.update(hashlib.sha256(name.encode() + b"\0" + zf.read(name)).digest())
    h.update(json.dumps([_pinned(requirements), dict(settings)], sort_keys=True).encode())
    return h.hexdigest()[:32]


def build_package(
    requirements: Sequence[str] = (),
    *,
    wheel: str | os.PathLike[str] | None = None,
    python_version: str | None = None,
    architecture: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    trim: bool = True,
    verbose: bool = True,
    cache: bool = True,
) -> Package:
    """Builds the function's zip: squall, its dependencies and ``requirements``, as binary wheels
    for Lambda's platform. Refuses a package larger than Lambda's unzipped limit.

    Built packages are kept in ``$SQUALL_CACHE_DIR`` (default ``~/.cache/squall``; the newest
    :data:`CACHED_PACKAGES`), so deploying the same package again (other settings, another
    function or shard) does not build it again.

    Args:
        requirements: pip requirement strings, e.g. ``["scipy>=1.11"]``.
        wheel: The squall wheel (default ``$SQUALL_WHEEL``), built for manylinux2014.
        python_version: Must equal the caller's ``major.minor`` (the default).
        architecture: ``"x86_64"`` or ``"arm64"``; default arm64 when the squall wheel is
            built for it (see :func:`find_wheel`), else x86_64.
        out_dir: Where the zip goes (default: a new temporary directory).
        trim: Leave out what tasks never use (see ``TRIM``).
        verbose: Print each step.
        cache: Reuse a package built before from the same inputs (False: build it anew).
    """
    _check_architecture(architecture)
    python = _check_python(python_version)
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="squall-package-"))
    whl, architecture = find_wheel(wheel, python, architecture, scratch=out)
    inputs = package_hash(whl, requirements, {"python": python, "architecture": architecture})
    if cache and (hit := _cached(inputs, out)):
        if verbose:
            print(f"squall.deploy: package {hit.zipped_bytes / 2**20:.1f} MiB zipped (cached)")
        return hit
    site = out / "package"
    if site.exists():
        shutil.rmtree(site)
    packages = [str(whl), *_pinned(requirements)]
    abi = f"cp{python.replace('.', '')}"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--only-binary=:all:", "--target", str(site),
        "--implementation", "cp", "--python-version", python, "--abi", abi, "--abi", "abi3",
        "--abi", "none",
        *(f"--platform={tag}" for tag in _platform_tags(python, architecture)),
        *packages,
    ]  # fmt: skip
    started = time.monotonic()
    if verbose:
        print(
            f"squall.deploy: collecting {len(packages)} packages for python{python} {architecture}"
        )
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"pip could not collect binary wheels for Lambda (python{python}, {architecture}) "
            f"of {packages}:\n{done.stderr.strip()[-3000:]}\nEvery requirement needs a wheel for "
            "that platform; pin a version that has one"
            + (
                ", or pass architecture='x86_64' with a squall wheel for it."
                if architecture == "arm64"
                else "."
            )
        )
    for compiled in site.rglob("__pycache__"):
        shutil.rmtree(compiled, ignore_errors=True)
    if trim:
        for pattern in TRIM:
            for path in site.glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    files = sorted(p for p in site.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    if unzipped > MAX_UNZIPPED:
        raise ValueError(
            f"the package is {unzipped / 2**20:.0f} MiB unzipped, over Lambda's limit of "
            f"{MAX_UNZIPPED / 2**20:.0f} MiB; largest parts: {_largest(site)}. "
            "Drop requirements, or run them in a container image function."
        )
    zip_path = out / "squall-function.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for p in files:  # fixed order and timestamps: the same inputs give the same bytes
            info = zipfile.ZipInfo(p.relative_to(site).as_posix(), _ZIP_TIME)
            info.external_attr = (p.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, p.read_bytes())
    shutil.rmtree(site)
    zipped = zip_path.stat().st_size
    if verbose:
        print(
            f"squall.deploy: package {zipped / 2**20:.1f} MiB zipped, "
            f"{unzipped / 2**20:.1f} MiB unzipped ({time.monotonic() - started:.1f} s)"
        )
    package = Package(zip_path, zipped, unzipped, inputs)
    _keep(package)
    return package


#: Packages kept in the cache, newest first (each is some 40 to 60 MB).
CACHED_PACKAGES = 4


def _cached(inputs: str, out: Path) -> Package | None:
    """The package built before from ``inputs``, copied to ``out`` and checked against the
    digest recorded beside it; None when there is none (or it was damaged)."""
    cached = cache_dir("packages") / f"{inputs}.zip"
    try:
        unzipped, digest = (cache_dir("packages") / f"{inputs}.size").read_text().split()
        out.mkdir(parents=True, exist_ok=True)
        path = out / "squall-function.zip"
        shutil.copyfile(cached, path)
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return None
        os.utime(cached)  # recently used: kept longest
        return Package(path, path.stat().st_size, int(unzipped), inputs)
    except (OSError, ValueError):
        return None


def _keep(package: Package) -> None:
    """Puts ``package`` in the cache (whole or not at all) and drops the least recently used."""
    folder = cache_dir("packages")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{package.hash}.{os.getpid()}.part"
        shutil.copyfile(package.path, part)
        digest = hashlib.sha256(package.path.read_bytes()).hexdigest()
        (folder / f"{package.hash}.size").write_text(f"{package.unzipped_bytes} {digest}")
        os.replace(part, folder / f"{package.hash}.zip")
        kept = sorted(folder.glob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[CACHED_PACKAGES:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".size").unlink(missing_ok=True)
        for stale in folder.glob(".*.part"):  # copies that a killed deploy left
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs the next deploy a build


def _largest(site: Path) -> str:
    sizes = {
        top.name: sum(p.stat().st_size for p in top.rglob("*") if p.is_file())
        for top in site.iterdir()
        if top.is_dir()
    }
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    return ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in top)


#: The function name deploy() and Session(backend="lambda") use unless told otherwise.
DEFAULT_FUNCTION = "squall"
#: Most functions one deploy may shard over (squall_exec::deploy::MAX_SHARDS).
MAX_SHARDS = _native.MAX_SHARDS


def functions(function_name: str | None = None) -> list[str]:
    """The functions a ``Session(backend="lambda", function=function_name)`` invokes: the
    function and the other shards :func:`deploy` made of it (default ``$SQUALL_FUNCTION`` or
    ``"squall"``). An ARN or a qualified name is used as given.

    Example:
        >>> squall.aws.functions("squall")
        ['squall', 'squall-shard2', 'squall-shard3', 'squall-shard4']
    """
    name = function_name or os.environ.get("SQUALL_FUNCTION") or DEFAULT_FUNCTION
    return _native.lambda_functions(name)


def _iam_literal(text: str) -> str:
    """``text`` with IAM's wildcards and variables made literal (``*`` → ``${*}``)."""
    return "".join("${" + c + "}" if c in "*?$" else c for c in text)


def role_policy(store: str, function: str = DEFAULT_FUNCTION, shards: int = 1) -> dict[str, object]:
    """The IAM policy a squall function's execution role needs, and no more: writing its own
    log groups' streams (of each of its ``shards``), and reading, writing, deleting and listing
    objects under the store's prefix only (wildcards in the prefix are taken literally). Attach
    it to the role you pass to :func:`deploy`.

    Example:
        >>> print(json.dumps(squall.aws.role_policy("s3://lab-scratch/squall/"), indent=1))
    """
    bucket, _, prefix = store.removeprefix("s3://").partition("/")
    prefix = _iam_literal(prefix.strip("/"))
    objects = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}*"
    listing: dict[str, object] = {
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": f"arn:aws:s3:::{bucket}",
    }
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
    groups = [
        f"arn:aws:logs:*:*:log-group:/aws/lambda/{_iam_literal(name)}"
        for name in _native.shard_names(function, shards)
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [r for g in groups for r in (g, f"{g}:*")],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": objects,
            },
            listing,
        ],
    }


def deploy(
    requirements: Sequence[str] = (),
    *,
    function_name: str | None = None,
    memory_mb: int = 2048,
    timeout_s: int = 900,
    role: str | None = None,
    store: str | None = None,
    wheel: str | os.PathLike[str] | None = None,
    python_version: str | None = None,
    architecture: str | None = None,
    reserved_concurrency: int | None = None,
    environment: Mapping[str, str] | None = None,
    shards: int = 1,
    snapstart: bool = False,
    create_role: bool = False,
    force: bool = False,
    verbose: bool = True,
) -> Deployment:
    """Creates or updates the Lambda function that runs squall's tasks; does nothing when
    nothing changed.

    Credentials, region and endpoint come from the usual AWS settings (``AWS_PROFILE``,
    ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for LocalStack...). Packages over 50 MB zipped are
    uploaded through ``store`` (an ``s3://bucket/prefix``).

    Args:
        requirements: Extra pip requirements your functions import, e.g. ``["scipy"]``.
        function_name: Default ``$SQUALL_FUNCTION`` or ``"squall"``.
        memory_mb: The function's memory (128 to 10240); CPU share grows with it.
        timeout_s: The function's timeout in seconds (at most 900).
        role: ARN of the execution role (default ``$SQUALL_ROLE``); give it
            :func:`role_policy` of the store, or pass ``create_role=True``.
        store: ``s3://bucket/prefix`` for large packages (default ``$SQUALL_STORE``).
        wheel: The squall wheel for Lambda, or a folder of wheels (default ``$SQUALL_WHEEL``;
            else the installed squall's own files, when it was installed from a manylinux2014
            wheel).
        python_version: Must be the caller's ``major.minor`` (the default).
        architecture: ``"x86_64"`` or ``"arm64"``; default arm64 (a fifth cheaper per
            GB-second) when a squall wheel for it is at hand, else x86_64.
        reserved_concurrency: Cap each function's concurrent executions (None: no cap).
        environment: Environment variables for the function.
        shards: Deploy this many identical functions (``name``, ``name-shard2``...; one package,
            uploaded once through ``store`` when there is one). Lambda adds at most 1,000
            execution environments per function every 10 seconds, so a job that wants 10,000
            workers at once reaches them about k times sooner over k shards; a
            ``Session(backend="lambda", function=name)`` spreads its invocations over all of
            them by itself. Deploying fewer shards later deletes the extra ones.
        snapstart: Lambda SnapStart (Python 3.12 and later): each deploy publishes a version,
            which Lambda initialises once (squall, pyarrow and numpy imported) and snapshots;
            new execution environments resume from the snapshot instead of starting Python,
            and sessions invoke the alias ``squall`` that points at it. Publishing takes longer
            than a plain deploy; AWS bills Python snapshots for their caching and each restore,
            and allows no provisioned concurrency, EFS or over 512 MB of ephemeral storage
            with it. Random generators seeded before the snapshot (Python's ``random``,
            numpy's global one) are seeded anew in each restored environment.
        create_role: Without ``role``, create (or update) the IAM role ``<function>-squall`` that
            Lambda may assume, allowed only its logs and ``store``'s bucket prefix.
        force: Rebuild and update even when nothing changed.
        verbose: Print each step.

    Example:
        >>> squall.deploy(requirements=["scipy"], memory_mb=2048, role=ROLE_ARN)
    """
    name = function_name or os.environ.get("SQUALL_FUNCTION") or DEFAULT_FUNCTION
    role = role or os.environ.get("SQUALL_ROLE")
    store = store or os.environ.get("SQUALL_STORE")
    if not role and create_role:
        if not store or not store.startswith("s3://"):
            raise ValueError(
                "create_role=True needs store='s3://bucket/prefix': the role may use that "
                "prefix only"
            )
        role_name = f"{name}-squall"
        policy = role_policy(store, name, shards)
        role, created = _native.ensure_role(role_name, json.dumps(policy))
        if verbose:
            print(f"squall.deploy: role {role_name} {'created' if created else 'updated'}")
    if not role:
        raise ValueError(
            "squall.deploy needs an execution role: pass role='arn:aws:iam::ACCOUNT:role/NAME', "
            "set SQUALL_ROLE, or pass create_role=True; squall.aws.role_policy(store) is the "
            "policy it needs"
        )
    if not 128 <= memory_mb <= 10240:
        raise ValueError(f"memory_mb={memory_mb}: Lambda allows 128 to 10240 MB")
    if not 1 <= timeout_s <= 900:
        raise ValueError(f"timeout_s={timeout_s}: Lambda allows 1 to 900 seconds")
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards={shards}: use 1 to {MAX_SHARDS} functions")
    functions = tuple(_native.shard_names(name, shards))
    python = _check_python(python_version)
    _check_snapstart(snapstart, python)
    _check_architecture(architecture)
    with tempfile.TemporaryDirectory(prefix="squall-deploy-") as tmp:
        whl, architecture = find_wheel(wheel, python, architecture, scratch=Path(tmp))
        env = dict(environment or {})
        settings = {
            "python": python,
            "architecture": architecture,
            "memory_mb": memory_mb,
            "timeout_s": timeout_s,
            "role": role,
            "handler": HANDLER,
            "reserved_concurrency": reserved_concurrency,
            "environment": env,
            "shards": shards,
        } | ({"snapstart": True} if snapstart else {})
        wanted = package_hash(whl, requirements, settings)
        runtime = f"python{python}"
        if not force and all(_native.deployed_hash(f) == wanted for f in functions):
            if verbose:
                print(f"squall.deploy: {name} is up to date")
            return Deployment(name, "unchanged", runtime, wanted, functions=functions)
        package = build_package(
            requirements, wheel=whl, python_version=python, architecture=architecture,
            out_dir=Path(tmp), verbose=verbose, cache=not force,
        )  # fmt: skip
        data = package.path.read_bytes()
        code: dict[str, object]
        through_s3 = bool(store and store.startswith("s3://"))
        if package.zipped_bytes <= MAX_ZIPPED_DIRECT and not (shards > 1 and through_s3):
            code = {"zip": data}
        elif store and through_s3:
            url = f"{store.rstrip('/')}/deploy/{name}-{wanted}.zip"
            if verbose:
                print(f"squall.deploy: uploading the package to {url}")
            _native.write_bytes(url, data)
            bucket, _, key = url.removeprefix("s3://").partition("/")
            code = {"s3": (bucket, key)}
        else:
            raise ValueError(
                f"the package is {package.zipped_bytes / 1e6:.0f} MB zipped, over Lambda's "
                f"{MAX_ZIPPED_DIRECT / 1e6:.0f} MB direct-upload limit: pass store='s3://...' "
                "(or set SQUALL_STORE) so it can go through S3"
            )
        if verbose:
            times = f" as {shards} functions" if shards > 1 else ""
            print(
                f"squall.deploy: deploying {name}{times} ({runtime} {architecture}, "
                f"{memory_mb} MB, {timeout_s} s)"
            )
        status = _native.deploy_function(
            name, runtime_id=runtime, architecture=architecture, handler=HANDLER,
            memory_mb=memory_mb, timeout_s=timeout_s, role=role, hash=wanted, environment=env,
            reserved_concurrency=reserved_concurrency, shards=shards, snapstart=snapstart,
            **code,  # type: ignore[arg-type]
        )  # fmt: skip
        if verbose:
            print(f"squall.deploy: {name} {status}")
        return Deployment(
            name, status, runtime, wanted, package.zipped_bytes, package.unzipped_bytes, functions
        )
