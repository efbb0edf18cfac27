"""Fixtures for the policy toolkit tests: the tiny forced-output gpt-oss GGUF, policies, a settings file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modbot.ports import CompletionRequest
from modbot.stages.reasoner import HarmonyCodec, HarmonyReasoner, LlamaTransport, ReasonerSettings
from modbot.stages.reasoner.testing import ForcedOutput, scripted_answer
from tests.conftest import TEST_POLICY
from tests.support.tiny_gguf import ensure_tiny_gguf

#: The live policy's changes as a candidate: "aimbot" is no longer a CH1 keyword, SC1 (scam links) is
#: only flagged, and two rules are new: GD1 (gold selling, for the reasoner) and AT1 (account selling,
#: flagged at once).
CANDIDATE_POLICY = (
    TEST_POLICY.replace('id = "test-policy"', 'id = "candidate-policy"')
    .replace('keywords = ["aimbot", "wallhack"]', 'keywords = ["wallhack"]')
    .replace('severity = "high"\nkeywords = ["free-nitro.example"]', 'severity = "low"\nkeywords = ["free-nitro.example"]')
    .replace(
        "+++\n# Instruction",
        """[[categories]]
id = "gold"
title = "Gold selling"
[[categories.rules]]
id = "GD1"
description = "Selling in-game gold"
severity = "medium"
keywords = ["cheap gold"]
[[categories]]
id = "accounts"
title = "Account selling"
[[categories.rules]]
id = "AT1"
description = "Selling accounts"
severity = "low"
keywords = ["buy my account"]
act_on_match = true
+++
# Instruction""",
    )
)
assert CANDIDATE_POLICY.count("GD1") == 1 and 'keywords = ["wallhack"]' in CANDIDATE_POLICY


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """The tiny random-weight gpt-oss GGUF (built once, cached under ~/.cache/modbot-tests/)."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    return ensure_tiny_gguf()


@pytest.fixture(scope="session")
def codec(tmp_path_factory: pytest.TempPathFactory) -> HarmonyCodec:
    return HarmonyCodec.load(tmp_path_factory.mktemp("tiktoken"))


def reasoner_settings(model: Path) -> ReasonerSettings:
    return ReasonerSettings(
        backend="llama", model_path=model, n_ctx=2048, n_threads=1, n_gpu_layers=0, max_tokens=96,
        timeout_s=30.0, load_timeout_s=60.0,
    )  # fmt: skip


def by_text(codec: HarmonyCodec, answers: dict[str, ForcedOutput]) -> Callable[[CompletionRequest], ForcedOutput | None]:
    """The answer of the longest key found in the message (so one text inside another picks the right one)."""
    keys = sorted(answers, key=len, reverse=True)

    def script(request: CompletionRequest) -> ForcedOutput | None:
        text = codec.decode(request.suffix)
        return next((answers[key] for key in keys if key in text), None)

    return script


@pytest.fixture
def forced_reasoner(tiny_model: Path, codec: HarmonyCodec) -> Callable[[dict[str, ForcedOutput]], HarmonyReasoner]:
    """Builds a real llama.cpp reasoner on the tiny model whose answers are forced by message text."""

    def build(answers: dict[str, ForcedOutput]) -> HarmonyReasoner:
        settings = reasoner_settings(tiny_model)
        return HarmonyReasoner(LlamaTransport(settings, output_script=by_text(codec, answers)), settings, codec=codec)

    return build


@pytest.fixture
def answers(codec: HarmonyCodec) -> dict[str, ForcedOutput]:
    """The reasoner's forced answers for the messages of the replay tests."""
    return {
        "aimbot": scripted_answer(codec, violation=True, rule_ids=("CH1",), category="cheats", rationale="Sells cheats."),
        "wallhack": scripted_answer(codec, violation=False, rationale="Asks about a wallhack video."),
        "cheap gold": scripted_answer(codec, violation=True, rule_ids=("GD1",), category="gold", rationale="Sells gold."),
        "free-nitro": scripted_answer(codec, violation=True, rule_ids=("SC1",), category="scams", rationale="Scam."),
    }


def write_config(tmp_path: Path, *, reasoner: str = 'backend = "none"') -> Path:
    """A settings file for the ``modbot`` subprocess: the database and policies of ``make_settings``."""
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir(exist_ok=True)
    (policy_dir / "test-policy.md").write_text(TEST_POLICY, encoding="utf-8")
    config = tmp_path / "modbot.toml"
    config.write_text(
        f"""database_url = "sqlite+aiosqlite:///{tmp_path / 'modbot.sqlite3'}"
policy_dir = "{policy_dir}"
prefilter_enabled = false
[server_defaults]
policy_id = "test-policy"
[reasoner]
{reasoner}
[learning]
enabled = false
""",
        encoding="utf-8",
    )
    return config
