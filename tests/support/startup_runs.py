"""The ``modbot`` runs of ``tests/test_secrets_startup.py``: recognisable secrets, each failure to provoke,
and how a run is executed (a subprocess of the console script, stopped like an operator would)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import TEST_POLICY

__all__ = ["ALL_SECRETS", "FILE_API_KEY", "RUNS", "SECRETS", "Run", "base_env", "execute", "leaks", "prepare", "secret_like"]

REPO = Path(__file__).resolve().parents[2]
#: The console script of ``[project.scripts]`` (what operators run).
MODBOT = Path(sys.executable).with_name("modbot")
#: The longest any run may take, including the time a stopped run waits for its expected line.
LONGEST_RUN_S = 180.0


def secret_like(prefix: str, size: int = 24) -> str:
    # Random per run: a piece of one can only appear in the output by leaking. Prefixes stay short
    # (a shipped policy quotes "xoxb-1234..." as an example of a leaked token).
    return prefix + secrets.token_urlsafe(size)


SECRETS = {
    "DISCORD_TOKEN": secret_like("MTA5") + "." + secret_like("Gh", 4) + "." + secret_like("", 27),
    "SLACK_BOT_TOKEN": secret_like("xoxb-"),
    "SLACK_APP_TOKEN": secret_like("xapp-"),
    "SLACK_SIGNING_SECRET": secrets.token_hex(16),
    "SLACK_ADMIN_USER_TOKEN": secret_like("xoxp-"),
    "SLACK_CLIENT_SECRET": secrets.token_hex(16),
    "MODBOT_HTTP_API__TOKEN": secret_like("op-"),
    "MODBOT_HTTP_API__CALLBACK_SECRET": secret_like("cb-"),
    "MODBOT_REASONER_API_KEY": secret_like("sk-"),
}
FILE_API_KEY = secret_like("sk-")
DB_PASSWORD = secret_like("Pw-", 12)
DB_URL = f"postgresql+asyncpg://modbot:{DB_PASSWORD}@127.0.0.1:9/modbot"
ALL_SECRETS = [*SECRETS.values(), FILE_API_KEY, DB_PASSWORD]


def leaks(text: str) -> list[str]:
    """Every 8-character piece of a secret found in ``text``."""
    return sorted({s[i : i + 8] for s in ALL_SECRETS for i in range(len(s) - 7) if s[i : i + 8] in text})


@dataclass
class Run:
    """One ``modbot`` invocation: arguments, settings file, extra environment, stdin, time allowed."""

    args: list[str]
    toml: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    stdin: str = ""
    #: Stop it (SIGINT, then SIGKILL) after this many seconds: for ``serve``, which retries forever.
    stop_after_s: float | None = None
    ok_codes: tuple[int, ...] = (1, 2, 3)
    #: Commands run before this one, in the same folder and environment (their output is scanned too).
    before: list[list[str]] = field(default_factory=list)
    #: Something the output must say (that it failed for the reason provoked).
    expect: str = ""


def base_env(home: Path) -> dict[str, str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "MODBOT_CACHE_DIR": str(home / "cache"),
        "MODBOT_DATABASE_URL": DB_URL,
        "PYTHONPATH": str(REPO),
        # Wide enough that no error line is wrapped: a wrapped line could split a leaked secret (or
        # the expected words) and hide it from the checks.
        "COLUMNS": "1000",
        **SECRETS,
    }
    if "TIKTOKEN_ENCODINGS_BASE" in os.environ:
        env["TIKTOKEN_ENCODINGS_BASE"] = os.environ["TIKTOKEN_ENCODINGS_BASE"]
    return env


def execute(name: str, run: Run, work: Path) -> tuple[int, str]:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    env = {**base_env(work), **{k: v.replace("{dir}", str(folder)) for k, v in run.env.items()}}
    env = {k: v for k, v in env.items() if v != "-"}  # "-" unsets a variable of the base environment
    said = ""
    for args in run.before:
        done = subprocess.run(
            [str(MODBOT), *[a.replace("{dir}", str(folder)) for a in args]], cwd=folder, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
        )
        said += done.stdout
    args = [a.replace("{dir}", str(folder)) for a in run.args]
    if run.toml is not None:
        (folder / "modbot.toml").write_text(run.toml.replace("{dir}", str(folder)), encoding="utf-8")
        args += ["--config", str(folder / "modbot.toml")]
    started = time.monotonic()
    process = subprocess.Popen(
        [str(MODBOT), *args],
        cwd=folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    process.stdin.write(run.stdin)  # type: ignore[union-attr]
    process.stdin.close()  # type: ignore[union-attr]
    # A run that is stopped goes on for at least ``stop_after_s``; on a busy machine start-up can take
    # longer than that, so it goes on (up to LONGEST_RUN_S) until it has said what it is expected to.
    deadline = time.monotonic() + (run.stop_after_s or LONGEST_RUN_S)
    while True:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
            break
        except subprocess.TimeoutExpired:
            if run.expect and run.expect not in "".join(lines) and deadline < started + LONGEST_RUN_S:
                deadline = min(time.monotonic() + 1.0, started + LONGEST_RUN_S)
                continue
            process.send_signal(signal.SIGINT)  # what an operator's Ctrl-C does: a clean shutdown
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            break
    reader.join(timeout=10)
    return process.returncode, said + "".join(lines)


SQLITE = "sqlite+aiosqlite:///{dir}/modbot.sqlite3"
HTTP_REASONER = f'[reasoner]\nbackend = "http"\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "{FILE_API_KEY}"\ntimeout_s = 2\nretries = 0\nconnect_timeout_s = 1\n'
#: How a ``serve`` that ran until stopped ends (2 would be a settings error: it never served).
SERVED = (0, 1, 130, -2, -9)
FAST_RECONNECT = "[platforms]\nreconnect_base_s = 0.2\nreconnect_max_s = 0.5\n"

RUNS: dict[str, Run] = {
    "malformed-toml": Run(["serve"], f'[reasoner]\napi_key = "{FILE_API_KEY}\nbackend = http\n'),
    "malformed-toml-db-url": Run(["db", "upgrade"], f'database_url = {DB_URL}\n'),
    "not-utf8-toml": Run(["serve"], None, {"MODBOT_CONFIG": "{dir}/bad.toml"}),
    "missing-config-file": Run(["serve", "--config", "{dir}/nope.toml"]),
    "reasoner-key-without-base-url": Run(
        ["eval", "{dir}/data.jsonl", "--stages", "full"], f'[reasoner]\nbackend = "http"\napi_key = "{FILE_API_KEY}"\n'
    ),
    "unreachable-http-reasoner-eval": Run(["eval", "{dir}/data.jsonl", "--stages", "full"], HTTP_REASONER),
    "classify-http-reasoner-configured": Run(["classify", "--no-prefilter", "kys"], HTTP_REASONER, ok_codes=(0,)),
    "classify-bad-model-path": Run(["classify", "--no-prefilter", "--model", "{dir}/none.gguf", "hi"], HTTP_REASONER),
    "classify-junk-model": Run(["classify", "--no-prefilter", "--model", "{dir}/junk.gguf", "hi"], HTTP_REASONER),
    "model-check-junk": Run(["model", "check", "--model", "{dir}/junk.gguf", "--timeout", "20"]),
    "db-upgrade-unreachable": Run(["db", "upgrade"]),
    "db-upgrade-bad-url": Run(["db", "upgrade", "--database-url", f"postgresql+asyncpg://modbot:{DB_PASSWORD}@127.0.0.1:port/db"]),
    "db-upgrade-unknown-driver": Run(["db", "upgrade", "--database-url", f"nosuchdb://modbot:{DB_PASSWORD}@127.0.0.1/db"]),
    "db-upgrade-no-scheme": Run(["db", "upgrade", "--database-url", f"modbot:{DB_PASSWORD}@127.0.0.1/db"]),
    "db-backup-postgres": Run(["db", "backup", "{dir}/copy.sqlite3"]),
    "serve-unreachable-db": Run(["serve"], FAST_RECONNECT + '[http_api]\nport = 0\n'),
    # A missing policy folder is not a start-up error (yet): serve runs on the built-in policies.
    "serve-unreadable-policy-dir": Run(
        ["serve"], 'policy_dir = "{dir}/no-such-folder"\n' + FAST_RECONNECT, {"MODBOT_DATABASE_URL": SQLITE},
        stop_after_s=12, ok_codes=SERVED,
    ),
    # A broken policy file is logged (its line, never its text) and skipped: serve goes on.
    "serve-broken-policy": Run(
        ["serve"], 'policy_dir = "{dir}/policies"\n' + FAST_RECONNECT, {"MODBOT_DATABASE_URL": SQLITE},
        stop_after_s=12, ok_codes=SERVED,
    ),
    "serve-bad-embedding-dir": Run(["serve"], 'embedding_model_dir = "{dir}"\n', {"MODBOT_DATABASE_URL": SQLITE}, stop_after_s=60),
    "serve-unreachable-platforms": Run(
        ["serve", "--log-format", "json"],
        'log_level = "DEBUG"\nprefilter_enabled = false\n' + FAST_RECONNECT + '[slack]\nmode = "socket"\n'
        + '[http_api]\nport = 0\n' + HTTP_REASONER,
        {"MODBOT_DATABASE_URL": SQLITE},
        stop_after_s=15,
        ok_codes=SERVED,
    ),
    "serve-unreachable-platforms-text-logs": Run(
        ["serve"],
        'log_level = "DEBUG"\nprefilter_enabled = false\n' + FAST_RECONNECT + '[slack]\nmode = "http"\nhttp_port = 0\n',
        {"MODBOT_DATABASE_URL": SQLITE, "SLACK_APP_TOKEN": "-"},
        stop_after_s=15,
        ok_codes=SERVED,
    ),
    "serve-no-platform": Run(
        ["serve"], None, {name: "-" for name in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")}, ok_codes=(2,)
    ),
    "policy-validate-broken": Run(["policy", "validate", "{dir}/broken.md", "{dir}/secret-line.md"]),
    "token-create-bad-server": Run(["http-api", "token", "create", "--server", ""], env={"MODBOT_DATABASE_URL": SQLITE}),
    "token-create-bad-callback": Run(
        ["http-api", "token", "create", "--server", "s1", "--callback-url", f"ftp://user:{DB_PASSWORD}@example.org/x"],
        env={"MODBOT_DATABASE_URL": SQLITE},
    ),
    "token-list-hides-url-password": Run(
        ["http-api", "token", "list"],
        env={"MODBOT_DATABASE_URL": SQLITE},
        before=[["db", "upgrade"], ["http-api", "token", "create", "--server", "s1", "--callback-url",
                                    f"https://ops:{DB_PASSWORD}@hooks.example/cb"]],
        ok_codes=(0,),
    ),
    "token-create-unreachable-db": Run(["http-api", "token", "create", "--server", "s1"]),
    "token-revoke-bad-id": Run(["http-api", "token", "revoke", "--server", "s1", "--id", "x"], env={"MODBOT_DATABASE_URL": SQLITE}),
    "token-revoke-no-schema": Run(["http-api", "token", "revoke", "--server", "s1"], env={"MODBOT_DATABASE_URL": SQLITE}),
    "http-api-secret-bad-server": Run(["http-api", "secret", "--server", "a b/c"]),
}

#: What each run must say: it failed (or ran) for the reason provoked, not for another.
for _name, _says in {
    "malformed-toml": "TOML",
    "malformed-toml-db-url": "TOML",
    "not-utf8-toml": "TOML",
    "missing-config-file": "config file not found",
    "reasoner-key-without-base-url": "base_url is required",
    "unreachable-http-reasoner-eval": "reasoner server is unavailable",
    "classify-http-reasoner-configured": '"decision"',
    "classify-bad-model-path": "model file not found",
    "classify-junk-model": "cannot load the reasoner model",
    "model-check-junk": "cannot load the reasoner model",
    "db-upgrade-unreachable": "Connect call failed",
    "db-upgrade-bad-url": "port",
    "db-upgrade-unknown-driver": "nosuchdb",
    "db-upgrade-no-scheme": "database_url",
    "db-backup-postgres": "pg_dump",
    "serve-unreachable-db": "Connect call failed",
    "serve-unreadable-policy-dir": "serving",
    "serve-broken-policy": "skipping policy",
    "serve-bad-embedding-dir": "holds no .onnx file",
    "serve-unreachable-platforms": "cannot reach",
    "serve-unreachable-platforms-text-logs": "cannot reach",
    "serve-no-platform": "[http_api] port",
    "policy-validate-broken": "front matter is not",
    "token-create-bad-server": "--server",
    "token-create-bad-callback": "not ftp scheme",
    "token-list-hides-url-password": "https://ops:***@hooks.example/cb",
    "token-create-unreachable-db": "Connect call failed",
    "token-revoke-bad-id": "--id",
    "token-revoke-no-schema": "db upgrade",
}.items():
    RUNS[_name].expect = _says


def prepare(work: Path) -> None:
    (work / "not-utf8-toml").mkdir(parents=True, exist_ok=True)
    (work / "not-utf8-toml" / "bad.toml").write_bytes(b'[reasoner]\napi_key = "\xff\xfe' + FILE_API_KEY.encode() + b'"\n')
    for name in ("reasoner-key-without-base-url", "unreachable-http-reasoner-eval"):
        (work / name).mkdir(parents=True, exist_ok=True)
        lines = [{"text": "kys", "unsafe": 1, "category": "harassment"}, {"text": "gg wp", "unsafe": 0}]
        (work / name / "data.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    for name in ("classify-junk-model", "model-check-junk"):
        (work / name).mkdir(parents=True, exist_ok=True)
        (work / name / "junk.gguf").write_bytes(b"GGUF" + FILE_API_KEY.encode() * 100)
    broken = work / "policy-validate-broken"
    broken.mkdir(parents=True, exist_ok=True)
    (broken / "broken.md").write_text(f'+++\nid = "x"\nwebhook = "{FILE_API_KEY}\n+++\nbody\n', encoding="utf-8")
    # A valid policy but for values that are tokens pasted in the wrong place. (A token written as a
    # *key* is echoed: an unknown key is named so it can be found. Not covered.)
    wrong = TEST_POLICY.replace('low = "flag"', f'low = "{SECRETS["SLACK_BOT_TOKEN"]}"').replace(
        'high = "1h"', f'high = "{SECRETS["DISCORD_TOKEN"]}"'
    ).replace('severity = "medium"', f'severity = "{FILE_API_KEY}"')
    (broken / "secret-line.md").write_text(wrong, encoding="utf-8")
    policies = work / "serve-broken-policy" / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "broken.md").write_text(f'+++\nid = "x"\napi_key = "{FILE_API_KEY}"\n[[categories]\n+++\nbody\n', encoding="utf-8")
