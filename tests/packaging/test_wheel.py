"""The built wheel, installed into a fresh virtual environment, works from a folder that is not the checkout.

The wheel is built from a copy of the sources (so the working tree gets no ``build/``), installed with
``--no-deps`` into a new venv whose dependencies come from this test environment's site-packages (a
``.pth`` line: installing them all again would take minutes), and the installed ``modbot`` is run as an
operator would: ``--version``, ``db upgrade``, ``classify``, ``policy validate``, ``serve``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import time
import tomllib
import venv
import zipfile
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from alembic.config import Config

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: What a wheel is built from (setup.py copies migrations/ and policies/ into modbot/_data/).
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "bot", "adapters", "migrations", "policies")


def _head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(REPO / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_data"))
        else:
            shutil.copy2(source, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(out)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    (built,) = out.glob("modbot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh venv's ``bin/`` folder, with the wheel installed."""
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # The dependencies: this environment's site-packages, after the venv's own (where the wheel goes).
    # Its editable-install hook is a .pth file there, which a path added this way does not run.
    Path(purelib, "modbot-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    return root / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder with no checkout in sight."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def _env(**extra: str) -> dict[str, str]:
    keep = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("DISCORD", "SLACK", "MODBOT", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    return {**keep, **extra}


def _modbot(bin_dir: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "modbot"), *args], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=120
    )


#: Repository folder -> the package it installs as (setup.py's PACKAGE_DIRS).
INSTALLED_AS = {"bot": "modbot", "adapters": "modbot_adapters"}


def test_the_wheel_carries_migrations_and_policies_inside_the_modbot_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = sorted(p.name for p in (REPO / "migrations" / "versions").glob("*.py"))
    assert versions and all(f"modbot/_data/migrations/versions/{name}" in names for name in versions)
    assert {"modbot/_data/migrations/env.py", "modbot/_data/migrations/script.py.mako"} <= names
    assert "modbot/_data/policies/game-community.md" in names
    assert "modbot/stages/prefilter/default/thresholds.json" in names  # the shipped prefilter model, as before
    # Nothing lands at the top of site-packages under the generic names "migrations" or "policies".
    assert not any(n.startswith(("migrations/", "policies/")) for n in names)


def test_every_file_of_the_packages_travels_in_the_wheel(wheel: Path) -> None:
    # Templates, static files, model files: whatever a package folder holds, the installed package needs
    # (a file left out of [tool.setuptools.package-data] works in the checkout and breaks when installed).
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [
        str(path.relative_to(REPO))
        for folder, package in INSTALLED_AS.items()
        for path in sorted((REPO / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        and path.name != "README.md" and "_data" not in path.parts
        and f"{package}/{path.relative_to(REPO / folder).as_posix()}" not in names
    ]
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"


def test_the_wheel_installs_only_unambiguous_top_level_names(wheel: Path) -> None:
    # A bare "bot" or "adapters" in site-packages would shadow (or be shadowed by) any other package so named.
    tops = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"modbot", "modbot_adapters"}


def test_the_installed_package_imports_under_its_own_names_only(installed: Path, elsewhere: Path) -> None:
    probe = (
        "import importlib.util, modbot.cli, modbot_adapters.discord_bot;"
        "print(importlib.util.find_spec('bot'), importlib.util.find_spec('adapters'))"
    )
    result = subprocess.run(
        [str(installed / "python"), "-c", probe], cwd=elsewhere, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None"]


def test_version_comes_from_the_installed_metadata(installed: Path, elsewhere: Path) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    result = _modbot(installed, elsewhere, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"modbot {version}"


def test_db_upgrade_from_another_folder_reaches_the_newest_migration(installed: Path, elsewhere: Path) -> None:
    database = elsewhere / "data" / "modbot.sqlite3"
    result = _modbot(installed, elsewhere, "db", "upgrade", "--database-url", f"sqlite+aiosqlite:///{database}")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == _head_revision()


def test_classify_uses_the_shipped_policy_from_another_folder(installed: Path, elsewhere: Path) -> None:
    env = {"MODBOT_REASONER__BACKEND": "none"}
    hello = _modbot(installed, elsewhere, "classify", "--no-prefilter", "hello", **env)
    assert hello.returncode == 0, hello.stderr
    assert json.loads(hello.stdout)["decision"] == "allow"
    cheat = _modbot(installed, elsewhere, "classify", "--no-prefilter", "selling aimbot and wallhack, dm me", **env)
    assert cheat.returncode == 0, cheat.stderr
    verdict = json.loads(cheat.stdout)
    # The keyword stage matched the shipped game-community policy's cheat rules: it was found and read.
    assert verdict["stage"] == "keyword" and "cheats" in verdict["categories"]


def test_policy_validate_reads_the_installed_policy(installed: Path, elsewhere: Path) -> None:
    shipped = next(installed.parent.glob("lib/python*/site-packages/modbot/_data/policies/game-community.md"))
    result = _modbot(installed, elsewhere, "policy", "validate", str(shipped))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == "game-community"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_migrates_and_serves_from_another_folder(installed: Path, elsewhere: Path) -> None:
    port = _free_port()
    database = elsewhere / "modbot.sqlite3"
    env = _env(
        MODBOT_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        MODBOT_HTTP_API__PORT=str(port),
        MODBOT_HTTP_API__TOKEN="operator-token-for-the-packaging-test",
        MODBOT_REASONER__BACKEND="none",
        MODBOT_PREFILTER_ENABLED="false",
        MODBOT_LEARNING__ENABLED="false",
    )
    process = subprocess.Popen(
        [str(installed / "modbot"), "serve"], cwd=elsewhere, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and process.poll() is None and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/v1/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert healthy, f"serve did not come up: {process.stderr.read() if process.poll() is not None else ''}"
        with sqlite3.connect(database) as connection:
            (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision == _head_revision()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, process.stderr.read()
