"""gpt-oss-safeguard's own spam policy (plain format, no front matter) replayed against its golden set.

Both files live in ../shared/data (not in the repository): the test skips when they are absent. The
reasoner is the tiny model with forced answers: the golden label when it reads the spam policy, "no
violation" when it reads the game policy, so the replay shows the recall the spam policy adds.
"""

from __future__ import annotations

import json

import pytest

from modbot.cli.policy_tools import ReplayRequest, run_replay
from modbot.domain.policy import PolicyError
from modbot.domain.settings import ServerSettings
from modbot.policy_files import load_policy
from modbot.stages.reasoner import HarmonyReasoner, LlamaTransport
from modbot.stages.reasoner.testing import scripted_answer
from tests.conftest import SHARED_DATA, make_settings
from tests.policy_tools.conftest import reasoner_settings

POLICY = SHARED_DATA / "oss-safeguard-spam-policy.txt"
GOLDEN = SHARED_DATA / "oss-safeguard-spam.jsonl"


@pytest.fixture
def spam_policy():
    if not POLICY.is_file() or not GOLDEN.is_file():
        pytest.skip(f"the spam policy or its golden set is not in {SHARED_DATA}")
    try:
        return load_policy(POLICY)
    except PolicyError as exc:
        pytest.skip(f"plain-format policies cannot be loaded yet (issue 14 item 1): {exc}")


async def test_the_plain_spam_policy_replayed_on_its_golden_set(tmp_path, spam_policy, tiny_model, codec):
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    answers = {
        row["text"]: scripted_answer(
            codec, violation=bool(row["unsafe"]), rule_ids=(row["category"],) if row["unsafe"] else (),
            category="spam" if row["unsafe"] else None,
        )  # fmt: skip
        for row in rows
    }
    keys = sorted(answers, key=len, reverse=True)
    allowed = scripted_answer(codec, violation=False)

    def script(request):
        if "Spam Policy" not in codec.decode(request.prefix):
            return allowed  # the game policy says nothing about spam
        text = codec.decode(request.suffix)
        return next(answers[key] for key in keys if key in text)

    settings = reasoner_settings(tiny_model)
    reasoner = HarmonyReasoner(LlamaTransport(settings, output_script=script), settings, codec=codec)
    app_settings = make_settings(tmp_path, server_defaults=ServerSettings(policy_id="test-policy", always_reason=True))

    diff, meta = await run_replay(
        app_settings, ReplayRequest(str(POLICY), data=GOLDEN), reasoner=reasoner, prefilter=None, show_progress=False
    )

    out = diff.to_dict()
    unsafe = sum(1 for row in rows if row["unsafe"])
    assert (out["compared"], out["failed"], out["labelled"]) == (len(rows), 0, len(rows))
    assert out["changed"] + out["newly_removed"] == unsafe  # every spam row: allowed before, caught now
    assert out["no_longer_removed"] == 0
    assert (out["before"]["recall"], out["after"]["recall"], out["after"]["precision"]) == (0.0, 1.0, 1.0)
    assert out["recall_change"] == 1.0
    assert meta["candidate"] == f"{spam_policy.id} {spam_policy.version}"
    example = (out["examples"]["changed"] or out["examples"]["newly_removed"])[0]
    assert example["after"]["rule_ids"][0] in {"SP2", "SP3", "SP4"}
