"""The shipped prefilter inside the real pipeline: real ONNX inference, real SQLite, reviews fed back."""

from __future__ import annotations

from modbot.app import build_prefilter, build_services
from modbot.domain import ReviewOutcome, ServerRef, Stage
from modbot.domain.commands import Invoker, Review
from modbot.domain.records import LabelledText
from tests.conftest import event, make_settings
from tests.support.scripted import ScriptedReasoner, by_keyword

SERVER = ServerRef("test", "g1")


async def test_prefilter_routes_traffic_and_learns_from_reviews_across_restarts(tmp_path):
    settings = make_settings(tmp_path, prefilter_enabled=True)
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    services = await build_services(settings, reasoner=reasoner, prefilter=build_prefilter(settings))
    await services.start()
    fine = await services.pipeline.submit(event("good game everyone, thanks for the match"))
    risky = await services.pipeline.submit(event("selling aimbot, cheap, dm me"))
    await services.pipeline.drain(60)
    fine_verdict = (await services.storage.verdicts.verdicts_for(SERVER, fine.row_id))[-1]
    risky_verdict = (await services.storage.verdicts.verdicts_for(SERVER, risky.row_id))[-1]
    assert fine_verdict.score is not None  # every message was scored
    assert risky_verdict.stage is Stage.REASONER  # the keyword hit went on to the reasoner
    cases = (await services.storage.cases.list_cases(SERVER)).cases
    moderator = Invoker(SERVER, "mod", platform_moderator=True)
    reply = await services.moderators.execute(moderator, Review(cases[0].id, ReviewOutcome.OVERTURN))
    assert reply.ok
    await services.close()

    # A restart replays the stored review into the new prefilter instance.
    prefilter = build_prefilter(settings)
    services = await build_services(settings, reasoner=None, prefilter=prefilter)
    assert services.prefilter is prefilter
    assert prefilter.examples.feedback_count(SERVER) == 1
    assert await services.storage.cases.reviewed_examples_by_server() == {
        SERVER: [LabelledText("selling aimbot, cheap, dm me", False)]
    }
    await services.close()


async def test_a_configured_embedding_folder_is_used_and_checked(tmp_path):
    import shutil

    import pytest

    from modbot.stages.prefilter import default_model_path, default_tokenizer_path

    folder = tmp_path / "minilm"
    folder.mkdir()
    settings = make_settings(tmp_path, prefilter_enabled=True, embedding_model_dir=folder)
    with pytest.raises(FileNotFoundError, match="no .onnx file"):
        build_prefilter(settings)
    shutil.copyfile(default_model_path(), folder / "model_quint8_avx2.onnx")
    shutil.copyfile(default_tokenizer_path(), folder / "tokenizer.json")
    prefilter = build_prefilter(settings)
    try:
        assert prefilter.embedder.config.model_path == folder / "model_quint8_avx2.onnx"
    finally:
        await prefilter.aclose()
