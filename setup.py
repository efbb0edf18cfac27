"""Build step: the installed package names, and the Alembic migrations and shipped policies in the wheel.

The repository keeps its layout (``bot/``, ``adapters/``, ``migrations/``, ``policies/``), but a bare
``bot`` or ``adapters`` in site-packages would collide with anything else so named, so the folders
install as the packages ``modbot`` and ``modbot_adapters`` (``PACKAGE_DIRS``; an editable install maps
the same names onto the checkout's folders). A wheel carries ``migrations/`` and ``policies/`` inside
the ``modbot`` package as ``modbot/_data/migrations`` and ``modbot/_data/policies``, where
:mod:`modbot.package_data` finds them through ``importlib.resources``. The rest of the build is
declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: Installed package name -> the repository folder it is built from.
PACKAGE_DIRS = {"modbot": "bot", "modbot_adapters": "adapters"}
#: Top-level folders that travel as package data, and where in the wheel they go.
DATA_FOLDERS = ("migrations", "policies")
TARGET = Path("modbot") / "_data"


class BuildWithData(build_py):
    """``build_py`` that also copies ``DATA_FOLDERS`` into ``modbot/_data/`` of the build tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders directly
        for name in DATA_FOLDERS:
            source = ROOT / name
            if not source.is_dir():
                raise FileNotFoundError(f"{source} is missing; cannot build a working wheel without it")
            destination = Path(self.build_lib) / TARGET / name
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def installed_packages() -> list[str]:
    """Every package of the repository's folders, under its installed name (``bot.cli`` -> ``modbot.cli``)."""
    names = []
    for name, folder in PACKAGE_DIRS.items():
        names.append(name)
        names.extend(f"{name}.{sub}" for sub in find_packages(str(ROOT / folder)))
    return names


setup(cmdclass={"build_py": BuildWithData}, package_dir=PACKAGE_DIRS, packages=installed_packages())
