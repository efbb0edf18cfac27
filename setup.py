"""Build step: copy the Alembic migrations and the shipped policies into the wheel.

The repository keeps ``migrations/`` and ``policies/`` at its top level (Alembic, the tests and the
docs expect them there). A wheel carries them inside the ``bot`` package as ``bot/_data/migrations`` and
``bot/_data/policies``, where :mod:`bot.package_data` finds them through ``importlib.resources``. The
rest of the build is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: Top-level folders that travel as package data, and where in the wheel they go.
DATA_FOLDERS = ("migrations", "policies")
TARGET = Path("bot") / "_data"


class BuildWithData(build_py):
    """``build_py`` that also copies ``DATA_FOLDERS`` into ``bot/_data/`` of the build tree."""

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


setup(cmdclass={"build_py": BuildWithData})
