"""Where the files that travel with modbot are: the Alembic migrations, the shipped policies, the version.

A checkout keeps them at the top of the repository (``migrations/``, ``policies/``). A wheel carries
copies of both inside the ``modbot`` package (``modbot/_data/migrations``, ``modbot/_data/policies``; the build
step in ``setup.py`` puts them there), found through :mod:`importlib.resources`, so an installed
``modbot`` works from any folder. The packaged copy wins when it is there; otherwise the checkout's.
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path

__all__ = [
    "DATA_PACKAGE_DIR",
    "DEFAULT_POLICY_FILE",
    "PackageDataError",
    "default_policy_file",
    "migrations_dir",
    "shipped_policies_dir",
    "version",
]

#: The folder inside the ``modbot`` package that a built wheel holds the data in.
DATA_PACKAGE_DIR = "_data"
#: The shipped default policy (``policies/game-community.md``).
DEFAULT_POLICY_FILE = "game-community.md"

#: The repository root of a checkout: the folder holding ``bot/``, the ``modbot`` package's source.
_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


class PackageDataError(FileNotFoundError):
    """A file that should travel with modbot is missing: a broken install or a partial checkout."""


def _locate(name: str) -> Path:
    """The packaged copy of the folder ``name`` if this install has one, else the checkout's."""
    packaged = resources.files("modbot").joinpath(DATA_PACKAGE_DIR, name)
    # A regular (not zipped) install gives a real path, which Alembic and the policy loader need.
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = _CHECKOUT_ROOT / name
    if checkout.is_dir():
        return checkout
    raise PackageDataError(
        f"modbot's {name}/ folder is missing (looked in {packaged} and {checkout}); reinstall the package"
    )


def migrations_dir() -> Path:
    """The Alembic script folder (``env.py``, ``versions/``)."""
    return _locate("migrations")


def shipped_policies_dir() -> Path:
    """The folder of the policies modbot ships (``game-community.md`` and its README)."""
    return _locate("policies")


def default_policy_file() -> Path:
    """The shipped default policy document."""
    return shipped_policies_dir() / DEFAULT_POLICY_FILE


def version() -> str:
    """The installed distribution's version (``modbot --version``); ``unknown`` when not installed at all."""
    try:
        return metadata.version("modbot")
    except metadata.PackageNotFoundError:
        return "unknown"
