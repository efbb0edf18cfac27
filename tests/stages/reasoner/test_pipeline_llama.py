"""The whole pipeline with the real llama.cpp reasoner on the tiny gpt-oss GGUF.

Forced output (a test-only option of the llama.cpp transport) makes the verdicts deterministic; free sampling
produces garbage, which must end as a recorded escalation. Everything else is the production path:
real SQLite, real keyword stage, real worker process, real harmony rendering and parsing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modbot.app import build_services
from modbot.domain import ActionKind, Decision, ServerRef, Stage
from modbot.stages.reasoner import HarmonyCodec, HarmonyReasoner, LlamaTransport, ReasonerSettings
from modbot.stages.reasoner.testing import by_message_text, scripted_answer
from tests.conftest import event, make_settings
from tests.support.recording_sink import RecordingSink

SERVER = ServerRef("test", "g1")
REPO = Path(__file__).resolve().parents[3]


async def test_violation_and_safe_verdicts_through_the_whole_pipeline(
    tmp_path: Path, llama_settings: ReasonerSettings, codec: HarmonyCodec
) -> None:
    violation = scripted_answer(
        codec, violation=True, rule_ids=("CH1",), category="cheats", confidence=0.93,
        rationale="Sells an aimbot.", analysis="Offer of cheats for sale: CH1.",
    )
    safe = scripted_answer(codec, violation=False, confidence=0.95, rationale="Friendly chat.")

    transport = LlamaTransport(llama_settings, output_script=by_message_text(codec, {"aimbot": violation, "good luck": safe}))
    reasoner = HarmonyReasoner(transport, llama_settings, codec=codec)
    sink = RecordingSink()
    services = await build_services(
        make_settings(tmp_path, server_defaults=make_settings(tmp_path).server_defaults.model_copy(update={"always_reason": True})),
        reasoner=reasoner,
        prefilter=None,
        sinks={"test": sink},
    )
    await services.server_settings.update(SERVER, mode="enforce")
    await services.start()
    try:
        bad = await services.pipeline.submit(event("selling undetected aimbot, dm me"))
        good = await services.pipeline.submit(event("good luck everyone, have fun"))
        await services.pipeline.drain(120)
        verdicts = {
            intake.row_id: (await services.storage.verdicts.verdicts_for(SERVER, intake.row_id))[-1]
            for intake in (bad, good)
        }
    finally:
        await services.close()

    assert verdicts[good.row_id].decision is Decision.ALLOW and verdicts[good.row_id].stage is Stage.REASONER
    # The policy prefix is evaluated for the first verdict only; the second reuses its KV state.
    second = min(verdicts.values(), key=lambda v: v.tokens.prompt_evaluated)
    assert second.tokens.prompt_evaluated < second.tokens.prompt / 3

    assert sink.kinds() == [ActionKind.DELETE, ActionKind.WARN, ActionKind.POST_CASE]
    case = sink.actions[-1].case
    verdict = case.verdict
    assert verdict.decision is Decision.REMOVE and verdict.stage is Stage.REASONER
    assert verdict.rule_ids == ("CH1",) and verdict.categories == ("cheats",)
    assert verdict.rationale == "Sells an aimbot." and verdict.reasoning == "Offer of cheats for sale: CH1."
    assert verdict.model == llama_settings.model_path.stem
    assert verdict.tokens.prompt >= verdict.tokens.prompt_evaluated > 0
    assert case.event.text == "selling undetected aimbot, dm me"


def _modbot(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODBOT_", "DISCORD_", "SLACK_"))}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return subprocess.run(
        [str(Path(sys.executable).with_name("modbot")), *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )


def test_classify_with_a_garbage_model_escalates_and_exits_0(tiny_model: Path, tmp_path: Path) -> None:
    config = tmp_path / "modbot.toml"
    config.write_text("[reasoner]\nn_ctx = 8192\nn_threads = 1\nmax_tokens = 48\ntemperature = 1.0\n", encoding="utf-8")
    result = _modbot(
        "classify", "--config", str(config), "--policy", "policies/game-community.md", "--model", str(tiny_model),
        "--no-prefilter", "gg ez, nice game",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    verdict = json.loads(result.stdout)
    assert verdict["decision"] == "escalate"
    assert verdict["stage"] == "reasoner" and verdict["error"]
    assert verdict["tokens"]["prompt"] > 3000 and verdict["tokens"]["completion"] > 0
