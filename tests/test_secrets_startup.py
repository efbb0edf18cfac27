"""No start-up failure or configuration error prints a secret, not even 8 characters of one.

Every secret the bot knows (Discord token, Slack bot/app/admin tokens, signing and client secrets, the
HTTP API's operator token and callback secret, the reasoner's API key, the database password) is set in
the environment and, where the settings file may hold it, in the file too. Then the real ``modbot``
command line is run as a subprocess into every failure we could think of, and all it printed (stdout
and stderr) is searched for every 8-character piece of every secret. ``tests/test_secrets.py`` checks
the same in-process for the reasoner table; this file covers the whole command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import BaseModel

from modbot.config import AppSettings
from modbot.stages.reasoner import ReasonerSettings
from tests.support.startup_runs import (
    ALL_SECRETS,
    FILE_API_KEY,
    RUNS,
    SECRETS,
    base_env,
    execute,
    leaks,
    prepare,
    secret_like,
)


def test_the_leak_check_finds_a_piece_of_a_secret():
    assert leaks(f"error near '{SECRETS['DISCORD_TOKEN'][2:11]}'") and not leaks("nothing to see here")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    work = tmp_path_factory.mktemp("startup")
    prepare(work)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(execute, name, run, work) for name, run in RUNS.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(RUNS))
def test_a_start_up_failure_prints_no_piece_of_any_secret(outputs: dict[str, tuple[int, str]], name: str):
    code, out = outputs[name]
    assert not leaks(out), f"{name} leaked {leaks(out)[:3]} in:\n{out[-3000:]}"
    assert code in RUNS[name].ok_codes, f"{name} exited {code}:\n{out[-3000:]}"
    assert out.strip(), f"{name} failed without saying why"
    if RUNS[name].expect:
        assert RUNS[name].expect in out, f"{name} did not say {RUNS[name].expect!r}:\n{out[-3000:]}"


# --- every setting, given a wrong value that is itself a secret ---------------------------------------


def _wrong_values(model: type[BaseModel], secret: str) -> dict[str, str]:
    """field name -> a TOML value of the wrong type that carries ``secret`` (or shows it is refused)."""
    values = {}
    for name, info in model.model_fields.items():
        text = repr(info.annotation)
        if "BaseModel" in text or (isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)):
            continue  # a table of its own: its fields are swept one by one
        if any(t in text for t in ("int", "float", "bool", "Literal", "tuple", "dict", "Decision")):
            values[name] = json.dumps(secret)  # a string where a number, flag, choice or table goes
        else:
            values[name] = "{ value = " + json.dumps(secret) + " }"  # a table where a string or path goes
    return values


def _tables() -> dict[str, type[BaseModel]]:
    tables: dict[str, type[BaseModel]] = {"": AppSettings}
    for name, info in AppSettings.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            tables[name] = info.annotation
    return tables


SWEEP_DRIVER = textwrap.dedent(
    """
    import os, sys, traceback
    from modbot.cli.main import _register_optional_commands, app
    _register_optional_commands()
    for line in sys.stdin:
        name, unset, *argv = line.rstrip("\\n").split("\\t")
        saved = {var: os.environ.pop(var) for var in unset.split(",") if var in os.environ}
        print(f"=== {name}", flush=True)
        try:
            app(argv, prog_name="modbot")
        except SystemExit as exc:
            print(f"=== rc {exc.code}", flush=True)
        except BaseException:
            traceback.print_exc()
            print("=== rc crash", flush=True)
        sys.stdout.flush(); sys.stderr.flush()
        os.environ.update(saved)
    """
)


def test_every_setting_refused_with_a_secret_as_its_value_names_the_setting_only(tmp_path: Path):
    secret = SECRETS["DISCORD_TOKEN"]
    lines = []
    for table, model in _tables().items():
        for name, value in _wrong_values(model, secret).items():
            if table == "" and name == "reasoner":
                continue  # swept below, through the reasoner's own validation
            path = tmp_path / f"{table or 'top'}.{name}.toml"
            path.write_text((f"[{table}]\n" if table else "") + f"{name} = {value}\n", encoding="utf-8")
            lines.append(f"{table}.{name}\t{_env_names(table, name)}\tdb\tupgrade\t--config\t{path}")
    model_file = tmp_path / "model.gguf"
    model_file.write_bytes(b"GGUF")
    for name, value in _wrong_values(ReasonerSettings, secret).items():
        if name in ("backend", "model_path"):
            continue  # --model sets both
        path = tmp_path / f"reasoner.{name}.toml"
        path.write_text(f"[reasoner]\n{name} = {value}\napi_key = {json.dumps(FILE_API_KEY)}\n", encoding="utf-8")
        lines.append(f"reasoner.{name}\tMODBOT_REASONER_API_KEY\tclassify\t--no-prefilter\t--model\t{model_file}\t--config\t{path}\thi")
    env = {**base_env(tmp_path), "MODBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/sweep.sqlite3"}
    done = subprocess.run(
        [sys.executable, "-c", SWEEP_DRIVER], input="\n".join(lines) + "\n", stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert not leaks(done.stdout), f"leaked {leaks(done.stdout)[:3]}"
    results = _sweep_results(done.stdout)
    assert len(results) == len(lines) >= 60
    accepted = sorted(name for name, (code, _) in results.items() if code == "0")
    assert accepted == [], f"wrong values accepted: {accepted}"
    for name, (_, said) in results.items():
        assert name.split(".")[-1] in said, f"{name}: the error does not name the setting:\n{said}"


def _env_names(table: str, name: str) -> str:
    """The variables that would set this setting (the environment wins over the file): unset for its check."""
    from modbot.config import WELL_KNOWN_ENV

    names = [f"MODBOT_{table}__{name}".upper() if table else f"MODBOT_{name}".upper()]
    names += [var for var, where in WELL_KNOWN_ENV.items() if where == (table, name)]
    return ",".join(names)


def _sweep_results(output: str) -> dict[str, tuple[str, str]]:
    """name -> (exit code, what it printed) from the driver's ``=== name`` / ``=== rc N`` markers."""
    results: dict[str, tuple[str, str]] = {}
    name, said = "", ""
    for block in output.split("=== ")[1:]:
        head, _, rest = block.partition("\n")
        if head.startswith("rc "):
            results[name] = (head[3:], said + rest)
        else:
            name, said = head, rest
    return results


# --- tokens the database holds, at DEBUG -------------------------------------------------------------


def test_debug_logs_never_show_a_workspace_token_stored_by_the_oauth_install(tmp_path: Path, capsys):
    """A Slack workspace's OAuth bot token lives in the database, not the settings, so no mask knows it:
    the SQL loggers (aiosqlite, SQLAlchemy) must not print statement parameters even at DEBUG."""
    import asyncio
    import logging

    from slack_sdk.oauth.installation_store import Installation

    from modbot_adapters.slack_app.installation import oauth_stores
    from modbot.app import upgrade_database
    from modbot.cli.logs import setup_logging

    url = f"sqlite+aiosqlite:///{tmp_path}/oauth.sqlite3"
    upgrade_database(url)
    workspace_token = secret_like("xoxb-")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("DEBUG", "text", ALL_SECRETS)

    async def install_and_find() -> str | None:
        stores = oauth_stores(url, "client-1")
        try:
            installation = Installation(
                app_id="A1", enterprise_id=None, team_id="T1", user_id="U1", bot_token=workspace_token,
                bot_id="B1", bot_user_id="UB1",
            )
            await stores.installations.async_save(installation)
            bot = await stores.installations.async_find_bot(enterprise_id=None, team_id="T1")
            return bot.bot_token if bot is not None else None
        finally:
            await stores.aclose()

    try:
        assert asyncio.run(install_and_find()) == workspace_token  # stored and read back
        # A probe with its own level: an earlier test may have left the "modbot" logger quieter, and what
        # this checks is that the root handler took DEBUG records while the token was saved and read.
        probe = logging.getLogger("modbot.tests.debug-probe")
        probe.setLevel(logging.DEBUG)
        probe.debug("debug logging is on")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    logged = capsys.readouterr().err
    assert "debug logging is on" in logged
    pieces = [workspace_token[i : i + 8] for i in range(len(workspace_token) - 7)]
    assert not [piece for piece in pieces if piece in logged], "a stored workspace token reached the log"
