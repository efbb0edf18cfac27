"""Per-server settings: inherit-or-override, and the one exemption rule."""

from __future__ import annotations

from modbot.domain import MessageEvent, ServerRef
from modbot.domain.settings import ServerOverrides, ServerSettings, exemption_reason


def test_overrides_inherit_unset_fields_and_can_reset():
    defaults = ServerSettings(mode="shadow", min_confidence=0.6, exempt_role_ids=("a",))
    overrides = ServerOverrides(mode="enforce")
    effective = overrides.apply_to(defaults)
    assert effective.mode == "enforce" and effective.min_confidence == 0.6 and effective.exempt_role_ids == ("a",)
    reset = overrides.with_changes(mode=None, exempt_role_ids=())
    effective = reset.apply_to(defaults)
    assert effective.mode == "shadow" and effective.exempt_role_ids == ()


def test_exemption_covers_channels_threads_and_roles():
    settings = ServerSettings(exempt_channel_ids=("trading",), exempt_role_ids=("staff",))

    def message(**fields) -> MessageEvent:
        return MessageEvent(server=ServerRef("test", "g1"), channel_id=fields.pop("channel_id", "c1"),
                            message_id="m1", author_id="u1", text="hi", **fields)

    assert exemption_reason(message(channel_id="trading"), settings) == "exempt channel"
    assert exemption_reason(message(thread_id="trading"), settings) == "exempt channel"
    assert exemption_reason(message(author_role_ids=("member", "staff")), settings) == "exempt role"
    assert exemption_reason(message(author_role_ids=("member",)), settings) is None
