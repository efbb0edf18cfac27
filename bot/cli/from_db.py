"""``modbot train-prefilter --from-db``: training rows from the labels of the bot's own work."""

from __future__ import annotations

import asyncio

from modbot.config import AppSettings
from modbot.domain import ServerRef
from modbot.training.data import LabelledRow
from modbot.training.learning import community_map, rows_from_labels, split_labels
from modbot.training.scheduler import LABEL_LIMIT

__all__ = ["rows_from_db"]


def rows_from_db(
    settings: AppSettings, *, server: str | None = None, community: str | None = None, hold_back: str = "none"
) -> list[LabelledRow]:
    """Rows from ``VerdictLog.labels`` (every server, one server's key, or one community's servers).

    Each row's ``source`` is its server's community (``prefilter_community``, else the
    ``[server_defaults]`` one, else the server key) and its ``weight`` the label's (1 / audit_share
    for audits). ``hold_back`` ("traffic", "all"; "none" keeps everything) leaves out the slice the
    scheduler evaluates on (:func:`modbot.training.learning.split_labels`).
    """
    return asyncio.run(_rows(settings, server, community, hold_back))


async def _rows(settings: AppSettings, server: str | None, community: str | None, hold_back: str) -> list[LabelledRow]:
    from modbot.store import open_storage

    storage = await open_storage(settings.database_url)
    try:
        known = await storage.servers.list_servers()
        overrides = {s.key: (await storage.servers.get_overrides(s)).prefilter_community for s in known}
        community_of = community_map(overrides, settings.server_defaults.prefilter_community)
        chosen: list[ServerRef] | None = None
        if server is not None:
            chosen = [s for s in known if s.key == server or s.id == server]
        elif community is not None:
            chosen = [s for s in known if community_of(s.key) == community]
        labels = await storage.verdicts.labels(chosen, limit=LABEL_LIMIT) if chosen != [] else []
        if hold_back != "none":
            labels, _, _ = split_labels(labels, hold_back)
        return rows_from_labels(labels, community_of)
    finally:
        await storage.close()
