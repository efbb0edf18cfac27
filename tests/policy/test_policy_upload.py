"""``/mod policy upload``: refused when lint finds errors (with the report); typed uploads activate only when asked."""

from __future__ import annotations

import pytest

from modbot.commands.parser import parse_mod_command
from modbot.domain import ServerRef
from modbot.domain.commands import Invoker, PolicyUpload
from tests.conftest import REPO

A = ServerRef("test", "g1")
MOD = Invoker(A, "mod", platform_moderator=True)
CLEAN = (REPO / "policies" / "harassment-and-hate.md").read_text(encoding="utf-8").replace(
    'id = "harassment-and-hate"', 'id = "house-rules"'
)


@pytest.fixture
async def services(tmp_path):
    from modbot.app import build_services
    from tests.conftest import make_settings

    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    yield services
    await services.close()


async def test_an_upload_with_lint_errors_is_refused_with_the_report(services) -> None:
    broken = CLEAN.replace("## Definitions", "## Background").replace("pile on.", "pile on (HA9).")
    reply = await services.moderators.execute(MOD, PolicyUpload(broken, "house.md", activate=True))
    assert not reply.ok and reply.title == "Policy house-rules not uploaded: 2 lint errors"
    assert "error: missing definitions section" in reply.text and "HA9" in reply.text
    assert "modbot policy lint" in reply.text
    stored = [r.policy_id for r in await services.storage.policies.list_policies(A)]
    assert "house-rules" not in stored and (await services.policies.get(A)).id == "test-policy"
    [entry] = await services.storage.audit.audit_entries(A)
    assert entry.command == "policy upload"


async def test_a_clean_upload_is_stored_and_used_only_when_asked(services) -> None:
    reply = await services.moderators.execute(MOD, parse_mod_command("policy upload\n" + CLEAN))
    assert reply.ok and reply.title == "Policy house-rules uploaded", reply
    assert "not in use" in reply.text and "/mod policy use sha256:" in reply.text
    assert dict(reply.fields)["Lint"] == "0 warnings"
    assert (await services.policies.get(A)).id == "test-policy"
    reply = await services.moderators.execute(MOD, parse_mod_command("policy upload --activate\n" + CLEAN))
    assert reply.ok and reply.title == "Policy house-rules uploaded and in use"
    assert (await services.policies.get(A)).id == "house-rules"


def test_the_parser_activates_only_with_the_flag() -> None:
    assert parse_mod_command("policy upload +++\nid = 1") == PolicyUpload("+++\nid = 1", activate=False)
    assert parse_mod_command("policy upload --activate +++\nx") == PolicyUpload("+++\nx", activate=True)
    with pytest.raises(ValueError, match=r"upload \[--activate\]"):
        parse_mod_command("policy upload --activate")
