"""``modbot doctor``: check this installation and print what to fix, one line each.

It looks at the llama.cpp build (CPU or GPU), the GPU and its memory, the model file and its sha256,
the database and its migration level, the platform tokens (present or missing, never shown) and what
Discord, Slack and an HTTP reasoner server say about them. The exit code is 1 when anything is broken
(a ``FAIL`` line), else 0; ``warn`` lines are worth reading but do not stop the bot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from modbot.cli.doctor_checks import (
    Finding,
    check_database,
    check_gpu,
    check_llama_build,
    check_model,
    check_policies,
    known_model_hashes,
    query_gpus,
)
from modbot.cli.doctor_platforms import Endpoints, check_discord, check_http_api, check_reasoner_server, check_slack
from modbot.config import AppSettings, SettingsError, load_settings
from modbot.package_data import migrations_dir, version

__all__ = ["register", "render", "run_doctor"]

_LABELS = {"ok": "ok  ", "info": "--  ", "warn": "warn", "fail": "FAIL"}


def run_doctor(
    settings: AppSettings,
    *,
    endpoints: Endpoints | None = None,
    offline: bool = False,
    hash_model: bool = True,
    nvidia_smi: str | None = None,
) -> list[Finding]:
    """Every check, in the order an operator fixes things: the machine, the model, the database, the platforms."""
    from modbot.app import missing_platform_settings, reasoner_settings
    from modbot.stages.reasoner import ReasonerConfigError

    endpoints = endpoints or Endpoints()
    findings = [Finding("info", "modbot", f"version {version()}")]
    try:
        reasoner = reasoner_settings(settings)
    except ReasonerConfigError as exc:
        findings.append(Finding("fail", "reasoner", str(exc), "fix the [reasoner] table of the settings file"))
        reasoner = None
    if reasoner is not None:
        gpus = query_gpus(nvidia_smi)
        findings.append(check_llama_build(reasoner, gpus))
        findings.extend(check_gpu(gpus, reasoner))
        findings.append(check_model(reasoner, known_model_hashes(), hash_file=hash_model))
        findings.extend(check_reasoner_server(reasoner, endpoints, offline=offline))
    findings.extend(check_policies(settings.policy_dir, settings.server_defaults.policy_id))
    findings.append(check_database(settings.database_url, migrations_dir()))
    findings.extend(check_discord(settings, endpoints, offline=offline))
    findings.extend(check_slack(settings, endpoints, offline=offline))
    findings.extend(check_http_api(settings))
    missing = missing_platform_settings(settings)
    if all(missing.values()):
        needs = "; ".join(f"{name.rsplit('.', 1)[-1]}: {', '.join(vars_)}" for name, vars_ in missing.items())
        findings.append(Finding("fail", "platforms", "no platform is configured, so serve has nothing to do",
                                f"set, for one of them, {needs}"))
    return findings


def render(findings: list[Finding], echo: Callable[[str], None] = typer.echo) -> None:
    """One line per finding; a broken or doubtful one gets its fix on the same line."""
    for finding in findings:
        line = f"{_LABELS[finding.status]} {finding.subject}: {finding.detail}"
        if finding.fix and finding.status in ("warn", "fail"):
            line += f" -> {finding.fix}"
        echo(line)
    broken = sum(f.broken for f in findings)
    echo(f"{broken} problem(s) to fix" if broken else "nothing to fix")


def doctor(
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="Settings file (TOML). Default: $MODBOT_CONFIG or ./modbot.toml.")
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Do not ask Discord, Slack or the reasoner server.")] = False,
    hash_model: Annotated[
        bool, typer.Option("--hash/--no-hash", help="Check the model file's sha256 (reads the whole file).")
    ] = True,
) -> None:
    """Check the llama.cpp build, GPU, model, database and platform tokens; print what to fix, one line each."""
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        typer.echo(f"FAIL settings: {exc}")
        raise typer.Exit(1) from None
    findings = run_doctor(settings, offline=offline, hash_model=hash_model)
    render(findings)
    if any(f.broken for f in findings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Mount ``modbot doctor`` on the command line."""
    app.command("doctor")(doctor)
