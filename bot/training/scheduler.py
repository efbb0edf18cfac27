"""``modbot serve``'s retraining: each community's prefilter relearned from its stored labels.

:class:`Learner` looks every ``check_every_s``; a community is due once it has ``min_new_labels``
labels newer than its last version, or ``interval_s`` has passed since it (with any new label).
Training runs in another process (``modbot train-prefilter --from-db``, through
``asyncio.create_subprocess_exec``), so neither the event loop nor judging waits for it. The candidate
is then scored on the held-back slice (:func:`modbot.training.learning.split_labels`: held-back labels of
every kind, audits weighted 1 / audit_share) beside the model that scores the community now, and becomes active
only if :func:`modbot.training.learning.accept` says so; with ``refit_on_all`` (default) what becomes active
is the same recipe trained again on every label (:meth:`Learner._refit`). Every candidate is stored as a version.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from modbot.config import LearningSettings
from modbot.domain import ServerRef, utcnow
from modbot.domain.policy import Policy
from modbot.domain.records import Label
from modbot.ports.learning import LearningStatus, PrefilterVersion, PrefilterVersions
from modbot.ports.storage import ServerConfig, VerdictLog
from modbot.stages.prefilter.learned import CommunityPrefilter
from modbot.stages.prefilter.scorer import EmbeddingPrefilter, load_prefilter
from modbot.training.learning import Evaluation, accept, evaluate, model_folder, routed_anyway, split_labels

__all__ = ["Learner", "RetrainOutcome", "subprocess_trainer"]

log = logging.getLogger(__name__)

#: ``train(community, out, eval_on)``: write a model folder for ``community`` trained on its labels
#: outside the held-back slice.
Trainer = Callable[[str, Path, str], Awaitable[None]]
LABEL_LIMIT = 200_000
#: Held-back labels a candidate is evaluated on at most (scoring them shares the process with judging).
EVAL_LIMIT = 5_000


def subprocess_trainer(database_url: str, *, extra: tuple[str, ...] = ()) -> Trainer:
    """Train with ``modbot train-prefilter --from-db`` in a child process."""

    async def train(community: str, out: Path, eval_on: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from modbot.cli import main; main()", "train-prefilter", "--from-db",
            "--community", community, "--database-url", database_url, "--hold-back", eval_on, "--fast",
            "--out", str(out), *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"train-prefilter exited {process.returncode}: {output.decode(errors='replace')[-2000:]}")

    return train


@dataclass(frozen=True, slots=True)
class RetrainOutcome:
    community: str
    version: PrefilterVersion | None
    accepted: bool
    reason: str
    seconds: float = 0.0
    metrics: dict[str, object] = field(default_factory=dict)


class Learner:
    """Retrains communities when due and switches their prefilter (see the module documentation)."""

    def __init__(
        self,
        *,
        verdicts: VerdictLog,
        servers: ServerConfig,
        versions: PrefilterVersions,
        prefilter: CommunityPrefilter,
        settings: LearningSettings,
        train: Trainer,
        policy: Policy | None = None,
        default_community: str | None = None,
    ):
        self.verdicts, self.servers, self.versions = verdicts, servers, versions
        self.prefilter, self.settings, self.train, self.policy = prefilter, settings, train, policy
        self.default_community = default_community
        self.last_check: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def load_active(self) -> int:
        """Load every community's active version into the prefilter; returns how many."""
        loaded = 0
        for version in await self.versions.versions():
            if version.active and Path(version.path).is_dir():
                self.prefilter.use_model(version.community, version.path)
                loaded += 1
        return loaded

    async def communities(self) -> dict[str, list[ServerRef]]:
        """community -> its servers (a server names one with ``prefilter_community``, else it is its own)."""
        groups: dict[str, list[ServerRef]] = {}
        for server in await self.servers.list_servers():
            named = (await self.servers.get_overrides(server)).prefilter_community
            groups.setdefault(named or self.default_community or server.key, []).append(server)
        return groups

    async def status(self, community: str, servers: list[ServerRef]) -> dict[str, object]:
        """Versions, the active one, labels since the last version and when the next retrain is due."""
        versions = await self.versions.versions(community)
        last = versions[-1] if versions else None
        new = len(await self.verdicts.labels(servers, since=last.created_at if last else None, limit=LABEL_LIMIT))
        due_at = last.created_at.timestamp() + self.settings.interval_s if last else None
        return {
            "versions": versions,
            "active": next((v for v in versions if v.active), None),
            "labels_since": new,
            "min_new_labels": self.settings.min_new_labels,
            "next_retrain_at": due_at,
        }

    async def community_of(self, server: ServerRef) -> str:
        named = (await self.servers.get_overrides(server)).prefilter_community
        return named or self.default_community or server.key

    async def status_for(self, server: ServerRef) -> LearningStatus:
        """The :class:`modbot.ports.learning.PrefilterLearning` port: ``/mod prefilter status``."""
        community = await self.community_of(server)
        info = await self.status(community, (await self.communities()).get(community, [server]))
        due = info["next_retrain_at"]
        return LearningStatus(
            community=community,
            versions=tuple(info["versions"]),  # type: ignore[arg-type]
            active=info["active"],  # type: ignore[arg-type]
            labels_since=int(info["labels_since"]),  # type: ignore[call-overload]
            min_new_labels=self.settings.min_new_labels,
            next_retrain_at=datetime.fromtimestamp(due, tz=UTC) if isinstance(due, float) else None,
        )

    async def rollback_for(self, server: ServerRef) -> tuple[str, PrefilterVersion | None]:
        """``/mod prefilter rollback``."""
        community = await self.community_of(server)
        return community, await self.rollback(community)

    async def due(self, community: str, servers: list[ServerRef]) -> bool:
        versions = await self.versions.versions(community)
        last = versions[-1] if versions else None
        new = await self.verdicts.labels(servers, since=last.created_at if last else None, limit=LABEL_LIMIT)
        if len(new) < (self.settings.min_labels if last is None else 1):
            return False
        if len(new) >= self.settings.min_new_labels:
            return True
        return last is not None and (utcnow() - last.created_at).total_seconds() >= self.settings.interval_s

    async def check(self) -> list[RetrainOutcome]:
        """Retrain every due community (one at a time)."""
        self.last_check = utcnow()
        outcomes = []
        for community, servers in (await self.communities()).items():
            if await self.due(community, servers):
                outcomes.append(await self.retrain(community, servers))
        return outcomes

    async def retrain(self, community: str, servers: list[ServerRef] | None = None) -> RetrainOutcome:
        """Train a candidate, evaluate it beside the current model, store it, and switch if it is better."""
        async with self._lock:
            if servers is None:
                servers = (await self.communities()).get(community, [])
            labels = await self.verdicts.labels(servers, limit=LABEL_LIMIT)
            _, slice_labels, slice_name = split_labels(labels)
            slice_labels = slice_labels[-EVAL_LIMIT:]  # the newest: evaluation runs beside judging
            versions = await self.versions.versions(community)
            version_no = len(versions) + 1
            out = model_folder(Path(self.settings.model_dir), community, version_no)
            started = time.perf_counter()
            try:
                await self.train(community, out, slice_name)
            except Exception as exc:  # a failed retrain leaves the current model in place
                log.warning("prefilter retrain of %s failed: %s", community, exc)
                return RetrainOutcome(community, None, False, f"training failed: {exc}")
            seconds = time.perf_counter() - started
            candidate = load_prefilter(out)
            floor = (lambda text: self.prefilter.floor_hit(self.policy, text)) if self.policy is not None else None
            current = self.prefilter.learned.get(community)
            # A refit has learned the slice: it is compared through its checked candidate (the same
            # recipe without the slice), or its in-sample figures would beat every later candidate.
            checked = self._checked_model(versions) if current is not None else None
            # What the keywords and the language routing send on counts for both models. The Judge
            # routes unlearned languages by the default's languages, whichever model scores.
            routed = routed_anyway([label.text for label in slice_labels], self.policy, self.prefilter.languages)
            cand_eval = await evaluate(
                candidate, slice_labels, policy=self.policy, slice_name=slice_name, floor=floor, routed=routed
            )
            cur_eval = await evaluate(
                checked or current or self.prefilter.default, slice_labels, policy=self.policy, slice_name=slice_name,
                floor=floor if current is not None else None, routed=routed,
            )  # fmt: skip
            if checked is not None:
                await checked.aclose()
            live = await self._live(current, versions, labels, floor) if current is not None else None
            ok, reason = accept(
                cand_eval, cur_eval, self.settings.target_recall, min_unsafe=self.settings.min_slice_unsafe, live=live
            )
            metrics: dict[str, object] = {
                "candidate": cand_eval.as_dict(), "current": cur_eval.as_dict(), "labels": len(labels),
                "train_seconds": round(seconds, 1), "decision": reason, "accepted": ok,
            }  # fmt: skip
            if live is not None:
                metrics["current_live"] = live.as_dict()
            if ok and self.settings.refit_on_all:
                out, candidate = await self._refit(community, out, candidate, metrics)
            version = await self.versions.add_version(community, str(out), metrics, active=ok)
            if ok:
                self.prefilter.use_model(community, out, model=candidate)
            else:
                await candidate.aclose()
            log.info("prefilter retrain of %s: version %d %s (%s)", community, version.version,
                     "active" if ok else "kept aside", reason)  # fmt: skip
            return RetrainOutcome(community, version, ok, reason, seconds, metrics)

    async def _refit(
        self, community: str, out: Path, candidate: EmbeddingPrefilter, metrics: dict[str, object]
    ) -> tuple[Path, EmbeddingPrefilter]:
        """The accepted candidate's recipe trained again on every label, the held-back slice too.

        The check judged the recipe on labels it had not learned; the refit learns from all of them
        and is calibrated on its own out-of-fold scores, as the candidate was. It is what becomes
        active (the checked candidate's folder stays beside it). Should the refit fail, the checked
        candidate is used. ``metrics["refit"]`` records which.
        """
        refit_out = out.with_name(f"{out.name}-refit")
        started = time.perf_counter()
        try:
            await self.train(community, refit_out, "none")
            refit = load_prefilter(refit_out)
        except Exception as exc:  # the checked candidate is still a good model
            log.warning("prefilter refit of %s on every label failed: %s", community, exc)
            metrics["refit"] = {"failed": str(exc)[-500:]}
            return out, candidate
        metrics["refit"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "allow_below": refit.thresholds_for(None).allow_below,
            "checked_candidate": str(out),
        }
        await candidate.aclose()
        return refit_out, refit

    async def _live(
        self,
        current: EmbeddingPrefilter,
        versions: list[PrefilterVersion],
        labels: Sequence[Label],
        floor: Callable[[str], object] | None,
    ) -> Evaluation | None:
        """The model in use on the labels that came after it became active (the newest ``EVAL_LIMIT``)."""
        active = next((v for v in versions if v.active), None)
        if active is None:
            return None
        since = [label for label in labels if label.created_at > active.created_at]
        if not since:
            return None
        since = since[-EVAL_LIMIT:]
        routed = routed_anyway([label.text for label in since], self.policy, self.prefilter.languages)
        return await evaluate(current, since, policy=self.policy, slice_name="since active", floor=floor, routed=routed)

    @staticmethod
    def _checked_model(versions: list[PrefilterVersion]) -> EmbeddingPrefilter | None:
        """The active version's checked candidate when the active model is its refit (None otherwise)."""
        active = next((v for v in versions if v.active), None)
        refit = active.metrics.get("refit") if active is not None else None
        folder = refit.get("checked_candidate") if isinstance(refit, dict) else None
        return load_prefilter(Path(folder)) if isinstance(folder, str) and Path(folder).is_dir() else None

    async def rollback(self, community: str) -> PrefilterVersion | None:
        """Back to the version active before the current one (None: the shipped default)."""
        versions = await self.versions.versions(community)
        active = next((v for v in versions if v.active), None)
        if active is None:
            return None
        previous = next((v for v in reversed(versions) if v.version < active.version and v.metrics.get("accepted")), None)
        await self.versions.activate(community, previous.version if previous else None)
        if previous is not None and Path(previous.path).is_dir():
            self.prefilter.use_model(community, previous.path)
        else:
            self.prefilter.drop_model(community)
        return previous

    # --- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="prefilter-learning")

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("prefilter learning check failed")
            await asyncio.sleep(self.settings.check_every_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

