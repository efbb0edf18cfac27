"""``modbot model ...``: download gpt-oss-safeguard-20b as a GGUF and check that it loads and answers.

Running the model (README snippet)
----------------------------------
The reasoner runs gpt-oss-safeguard-20b (21B parameters, 3.6B active, mixture of experts) through
llama-cpp-python. The PyPI package builds llama.cpp from source; for a GPU build reinstall it with::

    CMAKE_ARGS="-DGGML_CUDA=on" pip install --no-cache-dir --force-reinstall llama-cpp-python==0.3.36

(``--no-cache-dir``: pip would otherwise reuse a cached CPU wheel). Use ``-DGGML_METAL=on`` on Apple
silicon. ``reasoner.n_gpu_layers = -1`` (the default) offloads every layer.

Memory: the default file (Q4_K_M, 15.8 GB) needs the file size in GPU memory plus about 48 KiB of KV cache
per context token (24 layers x 8 KV heads x 64 dims x K and V in f16): ~0.4 GB at ``n_ctx = 8192``, plus
~0.5 GB of compute buffers — so a 24 GB GPU, or a 16 GB GPU with ``n_gpu_layers`` lowered so part of
the model stays in system RAM (slower). CPU-only works with ~20 GB of RAM but gives a few tokens per
second. A verdict at reasoning effort "low" generates roughly 100-300 tokens; with prefix reuse only the
message itself (tens of tokens) is evaluated on top of the cached policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from modbot.stages.reasoner.config import DEFAULT_MODEL_FILE

__all__ = ["DEFAULT_REPO", "KNOWN_SHA256", "model_app", "sha256_file"]

#: A community GGUF conversion of openai/gpt-oss-safeguard-20b.
DEFAULT_REPO = "DevQuasar/openai.gpt-oss-safeguard-20b-GGUF"
#: sha256 of known files (from the repository's LFS pointers), checked after download.
KNOWN_SHA256 = {
    (DEFAULT_REPO, DEFAULT_MODEL_FILE): "82cf32d11f86468a71fbed8a56b0e400e0aa80a39b82ed3ce84a461bf4da1b0f",
    (DEFAULT_REPO, "openai.gpt-oss-safeguard-20b.Q6_K.gguf"): "c79f7a0cacbd6930dbd855deaca43fef0739c8238eb31ca0e02cb375df44568f",
}

CHECK_POLICY = """\
+++
id = "model-check"
title = "Model check"
[actions]
medium = "remove"
[[categories]]
id = "spam"
title = "Spam"
[[categories.rules]]
id = "SP1"
description = "Unsolicited advertising"
severity = "medium"
+++
# Instruction
Decide whether the message is unsolicited advertising (rule SP1). Everything else is allowed.
# Examples
- "buy cheap followers at example.com, best prices" -> 1, SP1
- "does anyone know when the next update ships?" -> 0
"""

model_app = typer.Typer(help="Download and check the gpt-oss-safeguard model.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True, highlight=False)


def sha256_file(path: Path, *, show_progress: bool = False) -> str:
    """sha256 of a file, streamed (a GGUF is 12-22 GB)."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with Progress(
        TextColumn("checking sha256"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, disable=not show_progress, transient=True,
    ) as progress:
        task = progress.add_task("sha256", total=size)
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(8 << 20), b""):
                digest.update(chunk)
                progress.advance(task, len(chunk))
    return digest.hexdigest()


def _hub_reachable(endpoint: str, timeout: float = 5.0) -> str | None:
    """None when the hub's host accepts a TCP connection, else a reason (fails fast when offline)."""
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


@model_app.command()
def pull(
    repo: Annotated[str, typer.Option(help="Hugging Face repository holding the GGUF.")] = DEFAULT_REPO,
    file: Annotated[str, typer.Option("--file", "-f", help="GGUF file name in the repository.")] = DEFAULT_MODEL_FILE,
    dest: Annotated[Path, typer.Option(help="Folder to download into.")] = Path("models"),
    revision: Annotated[str, typer.Option(help="Branch, tag or commit.")] = "main",
    sha256: Annotated[Optional[str], typer.Option(help="Expected sha256 (known files are checked anyway).")] = None,
    token: Annotated[Optional[str], typer.Option(envvar="HF_TOKEN", help="Hub token for gated repositories.")] = None,
    embedding: Annotated[
        bool,
        typer.Option(
            "--embedding/--no-embedding",
            help="Also fetch the official all-MiniLM-L6-v2 ONNX export for the prefilter into DEST/minilm "
            "(set embedding_model_dir to use it; the packaged copy is used otherwise).",
        ),
    ] = False,
    embedding_only: Annotated[bool, typer.Option("--embedding-only", help="Fetch only the ONNX embedding model.")] = False,
) -> None:
    """Download a GGUF of gpt-oss-safeguard-20b (resumable; the sha256 is checked)."""
    if embedding or embedding_only:
        from modbot.stages.prefilter import EmbeddingModelError, pull_embedding_model

        try:
            model_file, tokenizer_file = pull_embedding_model(dest / "minilm", token=token)
        except EmbeddingModelError as exc:
            console.print(f"[red]embedding model: {exc}[/red]")
            raise typer.Exit(1)
        console.print(f"[green]saved {model_file} and {tokenizer_file}[/green]; set embedding_model_dir = \"{dest / 'minilm'}\"")
        if embedding_only:
            return
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    expected = (sha256 or KNOWN_SHA256.get((repo, file)) or "").lower() or None
    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    offline = constants.HF_HUB_OFFLINE
    if not offline:
        problem = _hub_reachable(endpoint)
        if problem:
            console.print(
                f"[red]cannot reach the Hugging Face Hub ({problem}).[/red] This machine looks offline: download "
                f"{repo}/{file} elsewhere, copy it into {dest}/ and point reasoner.model_path at it."
            )
            raise typer.Exit(1)
    dest.mkdir(parents=True, exist_ok=True)
    console.print(f"downloading [bold]{repo}[/bold] / {file} ({revision}) into {dest}/ - an interrupted download resumes")
    try:
        path = Path(hf_hub_download(repo_id=repo, filename=file, revision=revision, local_dir=dest, token=token))
    except (OfflineModeIsEnabled, LocalEntryNotFoundError) as exc:
        console.print(f"[red]offline: the file is not available locally and the Hub cannot be reached[/red] ({exc.__class__.__name__})")
        raise typer.Exit(1)
    except GatedRepoError:
        console.print(f"[red]{repo} is gated: accept its terms on huggingface.co and pass --token / set HF_TOKEN[/red]")
        raise typer.Exit(1)
    except RepositoryNotFoundError:
        console.print(f"[red]no repository {repo} on the Hub (or it is private)[/red]")
        raise typer.Exit(1)
    except RevisionNotFoundError:
        console.print(f"[red]{repo} has no revision {revision}[/red]")
        raise typer.Exit(1)
    except EntryNotFoundError:
        console.print(f"[red]{repo} has no file {file}[/red] (see the repository's file list for the quantizations)")
        raise typer.Exit(1)
    except (HfHubHTTPError, OSError) as exc:
        console.print(f"[red]download failed: {exc}[/red] (run the command again to resume)")
        raise typer.Exit(1)

    digest = sha256_file(path, show_progress=True)
    if expected and digest != expected:
        bad = path.with_name(path.name + ".corrupt")
        path.replace(bad)
        console.print(f"[red]sha256 mismatch for {file}: expected {expected}, got {digest}; moved to {bad}[/red]")
        raise typer.Exit(1)
    status = "verified" if expected else "not checked (no known hash; pass --sha256 to check)"
    console.print(f"[green]saved {path}[/green] ({path.stat().st_size / 1e9:.1f} GB, sha256 {digest[:16]}... {status})")
    console.print(f"next: set reasoner.model_path = \"{path}\" and run `modbot model check --model {path}`")
    typer.echo(str(path))


@model_app.command()
def check(
    model: Annotated[Path, typer.Option("--model", "-m", help="The GGUF file to check.")],
    n_gpu_layers: Annotated[int, typer.Option(help="Layers to offload to the GPU (-1: all).")] = -1,
    n_ctx: Annotated[int, typer.Option(help="Context size.")] = 4096,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for the verdict.")] = 120.0,
    max_tokens: Annotated[int, typer.Option(help="Most tokens the model may write.")] = 1024,
    text: Annotated[str, typer.Option(help="Message to judge.")] = "buy cheap followers at example.com, best prices",
) -> None:
    """Load the model in the reasoner worker and run one verdict.

    Exit codes: 0 the model answered with a valid verdict; 1 it cannot be loaded; 3 it loaded but its
    answer could not be parsed (not a gpt-oss-safeguard model, or broken).
    """
    from modbot.domain import MessageEvent, ServerRef
    from modbot.domain.policy import parse_policy
    from modbot.ports import JudgeRequest, ReasonerUnavailable
    from modbot.stages.reasoner import HarmonyReasoner, LlamaTransport, ReasonerSettings

    if not model.is_file():
        console.print(f"[red]model file not found: {model}[/red] (download one with `modbot model pull`)")
        raise typer.Exit(1)
    settings = ReasonerSettings(
        backend="llama", model_path=model, n_gpu_layers=n_gpu_layers, n_ctx=n_ctx, n_threads=threads,
        timeout_s=timeout, load_timeout_s=max(timeout, 300.0), max_tokens=max_tokens,
    )
    policy = parse_policy(CHECK_POLICY, source="<model check>")
    event = MessageEvent(server=ServerRef("check", "0"), channel_id="c", message_id="m", author_id="u", text=text)

    async def run() -> tuple[object, object, float]:
        transport = LlamaTransport(settings)
        reasoner = HarmonyReasoner(transport, settings)
        started = time.perf_counter()
        try:
            ready = await transport.start()
            load_s = time.perf_counter() - started
            judgement = await reasoner.judge(JudgeRequest(policy, event, "low"))
            return ready, judgement, load_s
        finally:
            await reasoner.aclose()

    console.print(f"loading {model} ({model.stat().st_size / 1e9:.2f} GB) ...")
    try:
        ready, judgement, load_s = asyncio.run(run())
    except ReasonerUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1)
    report = {
        "model": judgement.model,
        "load_s": round(load_s, 2),
        "n_ctx": ready.n_ctx,
        "violation": judgement.violation,
        "rule_ids": list(judgement.rule_ids),
        "confidence": judgement.confidence,
        "rationale": judgement.rationale,
        "latency_ms": round(judgement.latency_ms, 1),
        "tokens": {
            "prompt": judgement.tokens.prompt,
            "prompt_evaluated": judgement.tokens.prompt_evaluated,
            "completion": judgement.tokens.completion,
        },
        "error": judgement.error,
    }
    typer.echo(json.dumps(report, indent=2))
    if judgement.violation is None:
        console.print(
            "[yellow]the model loaded and ran, but its answer could not be parsed:[/yellow] "
            f"{judgement.error}. Is this gpt-oss-safeguard in harmony format?"
        )
        raise typer.Exit(3)
    console.print("[green]the model loaded and gave a valid verdict[/green]")
