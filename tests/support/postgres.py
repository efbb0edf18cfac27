"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temp folder, a free loopback port.

Standard library only, so ``.ci/run`` can start the cluster before the virtual environment exists:

    python3 tests/support/postgres.py start DIR   # prints the cluster's SQLAlchemy URL
    python3 tests/support/postgres.py stop DIR

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user (``runuser``);
as anyone else it runs as that user. The cluster trades durability for speed (``fsync=off``): it only
ever holds test data.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cluster", "PostgresUnavailable", "find_bin_dir", "start_cluster"]

#: Where Debian puts the server binaries (newest version first); ``MODBOT_PG_BIN`` overrides.
_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresUnavailable(RuntimeError):
    """No cluster can be started here; the message says why (tests skip with it)."""


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster: its folder (data, socket, log), port and superuser."""

    folder: Path
    port: int
    user: str
    bin_dir: Path

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` maintenance database (asyncpg driver)."""
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        stop_cluster(self.folder, self.bin_dir)


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    candidates = [os.environ["MODBOT_PG_BIN"]] if os.environ.get("MODBOT_PG_BIN") else []
    candidates += sorted(glob.glob(_BIN_GLOB), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0, reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _runner() -> tuple[list[str], str]:
    """How to run the server binaries (a command prefix) and as which database superuser."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server as") from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--"], "postgres"
    return ["su", "postgres", "-s", "/bin/sh", "-c"], "postgres"


def _run(prefix: list[str], args: list[str]) -> subprocess.CompletedProcess[str]:
    if prefix and prefix[0] == "su":  # su takes one shell command line
        import shlex

        return subprocess.run([*prefix, shlex.join(args)], capture_output=True, text=True, timeout=120)
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)


def start_cluster(folder: Path | None = None) -> Cluster:
    """initdb a new cluster in ``folder`` (a new temp folder by default) and start it on loopback."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(f"no PostgreSQL server binaries (looked in {_BIN_GLOB} and PATH; apt-get install postgresql)")
    prefix, user = _runner()
    folder = Path(folder or tempfile.mkdtemp(prefix="modbot-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    if prefix:
        shutil.chown(folder, "postgres", "postgres")
    os.chmod(folder, 0o700)
    data = folder / "data"
    init = _run(prefix, [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8", "--no-sync", "--locale=C"])
    if init.returncode != 0:
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    last = ""
    for _ in range(3):  # a port taken between probing and binding: try another
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        started = _run(
            prefix, [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "-t", "60", "start"]
        )
        if started.returncode == 0:
            (folder / "port").write_text(str(port))
            return Cluster(folder, port, user, bin_dir)
        last = started.stderr.strip() or started.stdout.strip()
        with contextlib.suppress(OSError):
            last += "\n" + (folder / "server.log").read_text()[-500:]
    raise PostgresUnavailable(f"the PostgreSQL server did not start: {last[-800:]}")


def stop_cluster(folder: Path, bin_dir: Path | None = None) -> None:
    """Stop the cluster in ``folder`` (if running) and delete the folder."""
    bin_dir = bin_dir or find_bin_dir()
    if bin_dir is not None and (folder / "data").is_dir():
        prefix, _ = _runner()
        _run(prefix, [str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "stop"])
    shutil.rmtree(folder, ignore_errors=True)


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print("usage: postgres.py start|stop DIR", file=sys.stderr)
        return 2
    command, folder = argv[0], Path(argv[1])
    if command == "stop":
        stop_cluster(folder)
        return 0
    try:
        print(start_cluster(folder).url)
    except PostgresUnavailable as exc:
        print(f"postgres.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
