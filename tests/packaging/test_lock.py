"""requirements.lock (written by bin/lock) pins every dependency pyproject.toml names, within its range."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not a plain pin"
            pins[canonicalize_name(name)] = version.split(";", 1)[0].strip()
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    return [Requirement(text) for text in names]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    locked = _locked()
    problems = []
    for requirement in _declared():
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in requirements.lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} does not satisfy {requirement}")
    assert not problems, "; ".join(problems) + " (run bin/lock)"


def test_the_bin_scripts_install_with_the_lock() -> None:
    env = (REPO / "bin" / "_env.sh").read_text(encoding="utf-8")
    assert "requirements.lock" in env and '"${constraints[@]}"' in env
