"""``modbot doctor``'s checks of this machine: the llama.cpp build, the GPU, the model file, the database.

Each check returns :class:`Finding` values (what was found, and for anything broken what to do about
it); none raises for a broken installation and none prints a secret. The platform checks (tokens and
what Discord/Slack say about them) are in :mod:`modbot.cli.doctor_platforms`.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modbot.stages.reasoner.config import ReasonerSettings

__all__ = [
    "CUDA_REINSTALL",
    "Finding",
    "GpuInfo",
    "Status",
    "check_database",
    "check_gpu",
    "check_llama_build",
    "check_model",
    "check_policies",
    "known_model_hashes",
    "query_gpus",
]

Status = Literal["ok", "info", "warn", "fail"]

CUDA_REINSTALL = (
    'CMAKE_ARGS="-DGGML_CUDA=on" pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python==0.3.36'
)
#: Beyond the GGUF itself the GPU holds the KV cache and compute buffers (see ``bot/cli/model.py``).
GPU_OVERHEAD_BYTES = 1 << 30


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: ``fix`` says what to do when ``status`` is ``warn`` or ``fail``."""

    status: Status
    subject: str
    detail: str
    fix: str | None = None

    @property
    def broken(self) -> bool:
        return self.status == "fail"


@dataclass(frozen=True)
class GpuInfo:
    """One NVIDIA GPU as ``nvidia-smi`` reports it (memory in MiB)."""

    name: str
    memory_total_mib: int
    memory_used_mib: int

    @property
    def memory_free_bytes(self) -> int:
        return (self.memory_total_mib - self.memory_used_mib) << 20


def check_llama_build(reasoner: ReasonerSettings, gpus: list[GpuInfo] | None) -> Finding:
    """Is llama-cpp-python installed, and built for the GPU when there is one to use?"""
    try:
        import llama_cpp
    except ImportError as exc:  # a broken build (missing shared library) is an ImportError or OSError
        return Finding("fail", "llama.cpp", f"llama-cpp-python cannot be imported ({exc})", "pip install llama-cpp-python==0.3.36")
    except OSError as exc:
        return Finding("fail", "llama.cpp", f"llama.cpp's library does not load ({exc})", CUDA_REINSTALL)
    version = getattr(llama_cpp, "__version__", "?")
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    build = "GPU build (offload supported)" if offload else "CPU build (no GPU offload)"
    if reasoner.backend != "llama":
        return Finding("info", "llama.cpp", f"{version}, {build}; not used (reasoner.backend = {reasoner.backend!r})")
    if not offload and gpus and reasoner.n_gpu_layers != 0:
        return Finding(
            "warn", "llama.cpp",
            f"{version}, {build}, but a GPU is here and reasoner.n_gpu_layers = {reasoner.n_gpu_layers}: the model runs on the CPU",
            f"rebuild it for CUDA: {CUDA_REINSTALL}",
        )
    return Finding("ok", "llama.cpp", f"{version}, {build}")


def query_gpus(nvidia_smi: str | None = None) -> list[GpuInfo] | None:
    """The NVIDIA GPUs ``nvidia-smi`` lists; None when there is no ``nvidia-smi`` to ask."""
    program = nvidia_smi or shutil.which("nvidia-smi")
    if program is None:
        return None
    try:
        result = subprocess.run(
            [program, "--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in result.stdout.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(GpuInfo(parts[0], int(parts[1]), int(parts[2])))
    return gpus


def check_gpu(gpus: list[GpuInfo] | None, reasoner: ReasonerSettings) -> list[Finding]:
    """The GPUs and their memory, against the model file when the in-process backend will load it."""
    wants_gpu = reasoner.backend == "llama" and reasoner.n_gpu_layers != 0
    if gpus is None:
        status: Status = "warn" if wants_gpu else "info"
        return [Finding(status, "gpu", "no NVIDIA GPU found (nvidia-smi is not on PATH)",
                        "the reasoner runs on the CPU (a few tokens/s for gpt-oss-20b): use a GPU machine or "
                        "reasoner.backend = 'http' with a GPU server" if wants_gpu else None)]
    if not gpus:
        return [Finding("fail" if wants_gpu else "warn", "gpu", "nvidia-smi is here but lists no GPU (driver problem?)",
                        "check the NVIDIA driver: run nvidia-smi and read its error")]
    model_size = _model_size(reasoner)
    findings = []
    for index, gpu in enumerate(gpus):
        free_gib = gpu.memory_free_bytes / (1 << 30)
        detail = f"{index}: {gpu.name}, {gpu.memory_total_mib / 1024:.1f} GiB, {free_gib:.1f} GiB free"
        if wants_gpu and model_size is not None and index == 0 and model_size + GPU_OVERHEAD_BYTES > gpu.memory_free_bytes:
            need = (model_size + GPU_OVERHEAD_BYTES) / (1 << 30)
            findings.append(Finding(
                "warn", "gpu", f"{detail}; the model needs about {need:.1f} GiB",
                "lower reasoner.n_gpu_layers (part of the model stays in RAM, slower), free GPU memory, or use a smaller quantization",
            ))
        else:
            findings.append(Finding("ok", "gpu", detail))
    return findings


def _model_size(reasoner: ReasonerSettings) -> int | None:
    path = reasoner.model_path
    return path.stat().st_size if path is not None and path.is_file() else None


def check_model(reasoner: ReasonerSettings, known_sha256: dict[str, str], *, hash_file: bool = True) -> Finding:
    """The GGUF the in-process backend loads: there, the right size, and the recorded sha256 if one is known."""
    if reasoner.backend != "llama":
        return Finding("info", "model", f"no local model file needed (reasoner.backend = {reasoner.backend!r})")
    path = reasoner.model_path
    if path is None or not path.is_file():
        return Finding("fail", "model", f"no model file at {path}",
                       "run `modbot model pull` (or set reasoner.model_path, or reasoner.backend = 'http' / 'none')")
    size = path.stat().st_size
    expected = known_sha256.get(path.name)
    described = f"{path} ({size / 1e9:.1f} GB)"
    if expected is None:
        return Finding("ok", "model", f"{described}; no recorded sha256 for {path.name}, not checked")
    if not hash_file:
        return Finding("ok", "model", f"{described}; sha256 not checked (--no-hash)")
    from modbot.cli.model import sha256_file

    digest = sha256_file(path, show_progress=True)
    if digest != expected:
        return Finding("fail", "model", f"{described}: sha256 {digest[:16]}... is not the recorded {expected[:16]}...",
                       "the file is corrupt or another file: delete it and run `modbot model pull` again")
    return Finding("ok", "model", f"{described}; sha256 verified")


def known_model_hashes() -> dict[str, str]:
    """Recorded sha256 values by GGUF file name (``modbot model pull``'s table)."""
    from modbot.cli.model import KNOWN_SHA256

    return {file: digest for (_repo, file), digest in KNOWN_SHA256.items()}


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def check_database(url: str, migrations: Path) -> Finding:
    """Can the database be reached, and is its schema at the newest migration?"""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    config = Config()
    config.set_main_option("script_location", str(migrations))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any parse error is the operator's setting, said without the value
        return Finding("fail", "database", "database_url is not a SQLAlchemy URL", "fix database_url (MODBOT_DATABASE_URL)")
    shown = _redacted(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).expanduser().is_file():
            return Finding("fail", "database", f"no database file yet at {shown}",
                           "run `modbot db upgrade` (serve does it too at start-up)")
    try:
        current = asyncio.run(_current_revisions(url))
    except Exception as exc:  # noqa: BLE001 - the driver's own error, with the URL's password hidden
        reason = str(exc).replace(parsed.password or "\0", "***") if parsed.password else str(exc)
        return Finding("fail", "database", f"cannot connect to {shown}: {reason.splitlines()[0][:200]}",
                       "check database_url, that the server runs and accepts this user")
    if current == heads:
        return Finding("ok", "database", f"{shown}, schema at the newest migration ({', '.join(sorted(heads))})")
    at = ", ".join(sorted(current)) or "no migration applied"
    return Finding("fail", "database", f"{shown}: schema at {at}, newest is {', '.join(sorted(heads))}",
                   "run `modbot db upgrade` (back up first: `modbot db backup FILE`)")


async def _current_revisions(url: str) -> set[str]:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))
    finally:
        await engine.dispose()


def check_policies(policy_dir: Path, default_id: str) -> list[Finding]:
    """The policies served to every server: each file valid, and the default ``policy_id`` among them."""
    import logging

    from modbot.domain.policy import PolicyError
    from modbot.policy_files import load_policy, load_policy_dir

    if not policy_dir.is_dir():
        return [Finding("fail", "policies", f"policy_dir {policy_dir} is not a folder",
                        "fix policy_dir, or remove it to use the shipped policies")]
    quiet = logging.getLogger("modbot.policy_files")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # each invalid file gets a line of its own below, not a log record
    try:
        policies = load_policy_dir(policy_dir)
    finally:
        quiet.setLevel(level)
    by_id = {policy.id: policy for policy in policies}
    findings = []
    for path in sorted([*policy_dir.glob("*.md"), *policy_dir.glob("*.txt")]):
        if path.name.lower() in ("readme.md", "readme.txt"):
            continue
        try:  # one file at a time, to name each invalid one (the folder loader only logs and skips them)
            load_policy(path, bases=by_id or None)
        except PolicyError as exc:
            findings.append(Finding("fail", "policies", f"invalid, not served: {exc}", "fix the line named (`modbot policy validate FILE`)"))
    ids = sorted(p.id for p in policies)
    if default_id not in ids:
        findings.append(Finding("warn", "policies", f"server_defaults.policy_id {default_id!r} is not in {policy_dir} ({', '.join(ids) or 'none'})",
                                "servers without a policy of their own need it: add the file or change policy_id"))
    findings.insert(0, Finding("ok" if policies else "fail", "policies", f"{len(ids)} in {policy_dir}: {', '.join(ids) or 'none'}",
                               None if policies else "put policy documents in policy_dir (policies/README.md)"))
    return findings
