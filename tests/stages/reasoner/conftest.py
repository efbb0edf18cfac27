"""Fixtures for the reasoner tests: the tiny gpt-oss GGUF, the harmony codec, policies, a loopback server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modbot.domain.policy import Policy, parse_policy
from modbot.stages.reasoner import HarmonyCodec, ReasonerSettings
from tests.conftest import TEST_POLICY
from tests.stages.reasoner.policies import GAMING_POLICY, SHORT_POLICY
from tests.stages.reasoner.loopback import LoopbackServer
from tests.support.tiny_gguf import ensure_tiny_gguf

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """The tiny random-weight gpt-oss GGUF (built once, cached under ~/.cache/modbot-tests/)."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    return ensure_tiny_gguf()


@pytest.fixture(scope="session")
def codec(tmp_path_factory: pytest.TempPathFactory) -> HarmonyCodec:
    return HarmonyCodec.load(tmp_path_factory.mktemp("tiktoken"))


@pytest.fixture(scope="session")
def policy() -> Policy:
    return parse_policy(GAMING_POLICY)


@pytest.fixture(scope="session")
def short_policy() -> Policy:
    return parse_policy(SHORT_POLICY)


@pytest.fixture(scope="session")
def test_policy() -> Policy:
    return parse_policy(TEST_POLICY)


@pytest.fixture
def llama_settings(tiny_model: Path) -> ReasonerSettings:
    return ReasonerSettings(
        backend="llama",
        model_path=tiny_model,
        n_ctx=2048,
        n_threads=1,
        n_gpu_layers=0,
        max_tokens=96,
        timeout_s=20.0,
        load_timeout_s=60.0,
    )


@pytest.fixture(scope="session")
def loopback_server(tiny_model: Path) -> Iterator[LoopbackServer]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.stages.reasoner.llama_http_server", str(tiny_model)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        pytest.fail(f"the loopback llama server did not start: {line!r}")
    server = LoopbackServer(proc, int(line.split()[1]))
    try:
        yield server
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(loopback_server: LoopbackServer) -> LoopbackServer:
    """The shared server, with faults, delays and scripts of earlier tests cleared."""
    loopback_server.control("/_test/reset", {})
    return loopback_server
