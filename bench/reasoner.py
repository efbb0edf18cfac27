"""Reasoner prefix reuse: prompt tokens evaluated per verdict, and verdicts/s, with and without reuse.

Run: ``.venv/bin/python bench/reasoner.py [--verdicts 30] [--threads 1]``.

Uses the tiny random-weight gpt-oss GGUF of the test suite (real llama.cpp, real o200k_harmony vocabulary)
and the ~600-token Pixel Arena policy (922-token system+developer prefix), judging short chat messages
through :class:`modbot.stages.reasoner.HarmonyReasoner` over :class:`modbot.stages.reasoner.LlamaTransport` (its worker process). Every verdict generates the same scripted
~55-token answer (forced through llama.cpp's sampler), so both modes do identical generation work and the
difference is the prompt evaluation. Modes, from one run:

* ``reuse``       — ``prefix_cache = true`` (the default): the policy prefix is evaluated once;
* ``no-reuse``    — ``prefix_cache = false``: every verdict evaluates the whole prompt;
* ``two-policies``— reuse on, alternating two policies: each switch restores a saved KV snapshot;
* ``*/prompt``    — the same with a one-token answer, so the verdict time is prompt processing only.

Goal: at least 10x fewer prompt tokens evaluated per verdict with reuse. Absolute speeds on the tiny
model are dominated by the 201k-token output layer, not by the 64-wide transformer; read the ratio.

Other models and GPUs (e.g. the full-size random-weight GGUF of ``bench/shaped_gguf.py`` on a CUDA build)::

    python bench/reasoner.py --model /tmp/model.gguf --n-gpu-layers -1 --policy policies/game-community.md \\
        --verdicts 20 --max-tokens 64 --n-ctx 8192 --answer free --modes reuse,no-reuse,reuse/prompt,no-reuse/prompt

``--answer free`` lets the model write its own answer (garbage with random weights: those verdicts are
escalated, which is counted, not an error); the default ``scripted`` forces the ~55-token valid answer.
Each mode's row is printed as soon as it is measured; derived prompt-evaluation and generation speeds
follow the table. ``--budget-s`` skips the modes that would start after that many seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modbot.domain import MessageEvent, ServerRef  # noqa: E402
from modbot.domain.policy import Policy, PolicyError, parse_policy
from modbot.policy_files import load_policy
from modbot.ports import Judgement, JudgeRequest, ReasonerUnavailable  # noqa: E402
from modbot.stages.reasoner import HarmonyCodec, HarmonyReasoner, LlamaTransport, PromptBuilder, ReasonerSettings
from modbot.stages.reasoner.testing import ForcedOutput, scripted_answer
from tests.stages.reasoner.policies import GAMING_POLICY, SHORT_POLICY  # noqa: E402
from tests.support.tiny_gguf import ensure_tiny_gguf  # noqa: E402

CHAT = [
    "gg ez", "nice shot", "anyone up for ranked?", "lag is insane today", "who wants to duo tonight",
    "that boss fight was brutal", "selling aimbot and wallhack, dm me", "check the patch notes",
    "ty for the carry", "where do i get the season pass", "you are trash, uninstall", "push mid",
    "free skins at pixel-arena-gifts.example/login", "need heals", "can someone explain the new ranked rules?",
]

ALL_MODES = ("reuse", "no-reuse", "two-policies", "reuse/prompt", "no-reuse/prompt")


def _event(i: int) -> MessageEvent:
    return MessageEvent(
        server=ServerRef("bench", "g1"), channel_id="c1", message_id=f"m{i}", author_id=f"u{i % 7}", text=CHAT[i % len(CHAT)]
    )


@dataclass(frozen=True, slots=True)
class ModeResult:
    """One mode's measurements (means over the timed verdicts)."""

    mode: str
    prompt: float
    evaluated: float
    completion: float
    verdicts_s: float
    p50_ms: float
    mean_ms: float
    load_s: float
    escalated: int
    verdicts: int
    first_error: str | None
    system_info: str


async def _run(
    name: str,
    settings: ReasonerSettings,
    codec: HarmonyCodec,
    policies: list[Policy],
    verdicts: int,
    *,
    prompt_only: bool = False,
    scripted: bool = True,
) -> ModeResult:
    forced: ForcedOutput | None = scripted_answer(codec, violation=False, confidence=0.9, rationale="Ordinary chat.")
    if prompt_only:  # answer with <|return|> at once: the verdict is then all prompt processing
        forced = ForcedOutput(tokens=())
    elif not scripted:  # the model writes its own answer (garbage with random weights)
        forced = None
    script = (lambda request: forced) if forced is not None else None
    transport = LlamaTransport(settings, output_script=script)
    reasoner = HarmonyReasoner(transport, settings, codec=codec)
    try:
        ready = await transport.start()
        # One warm-up verdict per policy (its prefix evaluation is a one-off per policy version).
        for policy in policies:
            await reasoner.judge(JudgeRequest(policy, _event(0)))
        results: list[Judgement] = []
        started = time.perf_counter()
        for i in range(verdicts):
            results.append(await reasoner.judge(JudgeRequest(policies[i % len(policies)], _event(i + 1))))
        elapsed = time.perf_counter() - started
    finally:
        await reasoner.aclose()
    bad = [j for j in results if j.violation is None]
    return ModeResult(
        mode=name,
        prompt=statistics.mean(j.tokens.prompt for j in results),
        evaluated=statistics.mean(j.tokens.prompt_evaluated for j in results),
        completion=statistics.mean(j.tokens.completion for j in results),
        verdicts_s=verdicts / elapsed,
        p50_ms=statistics.median(j.latency_ms for j in results),
        mean_ms=statistics.mean(j.latency_ms for j in results),
        load_s=ready.load_s,
        escalated=len(bad),
        verdicts=verdicts,
        first_error=bad[0].error if bad else None,
        system_info=ready.system_info,
    )


def _derived(runs: dict[str, ModeResult]) -> list[str]:
    """Prompt-evaluation and generation speeds, from the one-token-answer modes and their full-answer twins.

    A ``*/prompt`` verdict is prompt evaluation plus one sampled token, so evaluated / time is the prompt
    speed as the bot sees it (IPC and rendering included). A full verdict minus its ``*/prompt`` twin (same
    prompt, same evaluation) leaves the generation of the extra completion tokens.
    """
    lines: list[str] = []
    pp_rate: float | None = None
    for mode in ("no-reuse/prompt", "reuse/prompt"):
        r = runs.get(mode)
        if r is None or r.mean_ms <= 0:
            continue
        rate = r.evaluated / (r.mean_ms / 1000)
        pp_rate = pp_rate or rate
        lines.append(
            f"prompt evaluation ({mode}): {r.evaluated:.0f} tokens in {r.mean_ms:.1f} ms per verdict"
            f" = {rate:,.0f} prompt tok/s (IPC and rendering included)"
        )
    for mode in ("reuse", "no-reuse", "two-policies"):
        r = runs.get(mode)
        if r is None:
            continue
        twin = runs.get(f"{mode}/prompt") if mode != "two-policies" else runs.get("reuse/prompt")
        if twin is not None and r.completion > twin.completion and r.mean_ms > twin.mean_ms:
            tokens, ms = r.completion - twin.completion, r.mean_ms - twin.mean_ms
            how = f"{mode} minus {twin.mode}"
        elif pp_rate:
            tokens, ms = r.completion, r.mean_ms - r.evaluated / pp_rate * 1000
            how = f"{mode} minus its prompt at {pp_rate:,.0f} tok/s"
        else:
            tokens, ms = r.completion, r.mean_ms
            how = f"{mode}, whole verdict time (an underestimate)"
        if tokens > 0 and ms > 0:
            rate = tokens / (ms / 1000)
            lines.append(f"generation ({how}): {tokens:.1f} tokens in {ms:.1f} ms = {rate:,.1f} gen tok/s")
    return lines


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, help="a gpt-oss GGUF (default: the tiny test model)")
    parser.add_argument("--n-gpu-layers", type=int, default=0, help="layers on the GPU; -1 = all (CUDA build)")
    parser.add_argument("--policy", type=Path, help="a policy document (default: the ~600-token Pixel Arena policy)")
    parser.add_argument("--max-tokens", type=int, default=128, help="completion tokens per verdict, at most")
    parser.add_argument("--n-ctx", type=int, help="context window (default 2048, or what the prompt needs)")
    parser.add_argument("--modes", default=",".join(ALL_MODES), help=f"comma-separated subset of {','.join(ALL_MODES)}")
    parser.add_argument(
        "--answer", choices=("scripted", "free"), default="scripted",
        help="scripted: force a valid ~55-token answer; free: the model's own (garbage with random weights)",
    )
    parser.add_argument("--timeout-s", type=float, default=60.0, help="per-verdict deadline")
    parser.add_argument("--budget-s", type=float, help="skip the modes that would start after this many seconds")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ALL_MODES]
    if unknown or not modes:
        parser.error(f"--modes: unknown {unknown or 'empty list'}; choose from {','.join(ALL_MODES)}")
    args.modes = modes
    if args.verdicts < 1:
        parser.error("--verdicts must be at least 1")
    if args.max_tokens < 16:
        parser.error("--max-tokens must be at least 16 (the reasoner's minimum)")
    if args.model is not None and not args.model.is_file():
        parser.error(f"--model: no such file: {args.model}")
    return args


async def main() -> int:
    args = _parse_args()
    bench_started = time.perf_counter()

    try:
        main_policy = load_policy(args.policy) if args.policy else parse_policy(GAMING_POLICY)
    except (OSError, PolicyError) as exc:
        raise SystemExit(f"--policy {args.policy}: {exc}") from exc
    short = parse_policy(SHORT_POLICY)
    model = args.model or ensure_tiny_gguf()
    codec = HarmonyCodec.load()

    # Size the context from the longest prompt this run will send (the warm-up message is the longest).
    builder = PromptBuilder(codec)
    longest = max(len(builder.build(p, _event(i), "low")) for p in (main_policy, short) for i in range(len(CHAT)))
    prefix_tokens = len(builder.build(main_policy, _event(0), "low").prefix.tokens)
    needed = longest + args.max_tokens + 1
    if args.n_ctx is None:
        n_ctx = max(2048, math.ceil(needed / 1024) * 1024)
    elif args.n_ctx < needed:
        raise SystemExit(
            f"--n-ctx {args.n_ctx} is too small: prompts of up to {longest} tokens + {args.max_tokens} new need {needed}"
        )
    else:
        n_ctx = args.n_ctx

    scripted = args.answer == "scripted"
    if scripted:
        script_len = len(scripted_answer(codec, violation=False, confidence=0.9, rationale="Ordinary chat.").tokens)
        if script_len > args.max_tokens:
            print(f"warning: the scripted answer is {script_len} tokens, more than --max-tokens {args.max_tokens}: cut")

    base = ReasonerSettings(
        backend="llama", model_path=model, n_ctx=n_ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers,
        max_tokens=args.max_tokens, timeout_s=args.timeout_s,
    )
    no_reuse = base.model_copy(update={"prefix_cache": False})
    plans = {
        "reuse": (base, [main_policy], False),
        "no-reuse": (no_reuse, [main_policy], False),
        "two-policies": (base, [main_policy, short], False),
        "reuse/prompt": (base, [main_policy], True),
        "no-reuse/prompt": (no_reuse, [main_policy], True),
    }

    if args.model is None:
        print(f"tiny gpt-oss GGUF {model.name}, {args.verdicts} verdicts per mode, {args.threads} thread(s)")
    else:
        print(
            f"GGUF {model} ({model.stat().st_size / 1e9:.2f} GB), n_gpu_layers={args.n_gpu_layers}, n_ctx={n_ctx}, "
            f"{args.verdicts} verdicts per mode, {args.threads} thread(s)"
        )
    if args.model is not None or args.policy is not None or args.answer != "scripted":
        print(
            f"policy {main_policy.meta.id} ({prefix_tokens}-token system+developer prefix), answers: {args.answer}, "
            f"max_tokens={args.max_tokens}"
        )
    sys.stdout.flush()

    runs: dict[str, ModeResult] = {}
    failed_scripted: list[str] = []
    for mode in args.modes:
        if args.budget_s is not None and time.perf_counter() - bench_started > args.budget_s:
            print(f"{mode:<14}skipped: past --budget-s {args.budget_s:.0f}", flush=True)
            continue
        settings, policies, prompt_only = plans[mode]
        try:
            r = await _run(mode, settings, codec, policies, args.verdicts, prompt_only=prompt_only, scripted=scripted)
        except ReasonerUnavailable as exc:  # the model did not load: every other mode would fail the same way
            print(f"{mode:<14}FAILED: {exc}", flush=True)
            failed_scripted.append(f"{mode}: {exc}")
            break
        if not runs:
            if args.n_gpu_layers != 0:
                print(f"llama.cpp system info: {r.system_info.strip()}")
            print(f"{'mode':<14}{'prompt tok':>11}{'evaluated':>11}{'completion':>11}{'verdicts/s':>12}{'p50 ms':>9}"
                  f"{'load s':>8}{'escalated':>10}")
        runs[mode] = r
        escalated = "-" if prompt_only else str(r.escalated)  # a one-token answer is never a verdict
        print(
            f"{r.mode:<14}{r.prompt:>11.1f}{r.evaluated:>11.1f}{r.completion:>11.1f}"
            f"{r.verdicts_s:>12.2f}{r.p50_ms:>9.1f}{r.load_s:>8.1f}{escalated:>10}",
            flush=True,
        )
        # Escalations are expected for one-token answers and for a random-weight model answering freely;
        # with scripted answers they mean the pipeline is broken.
        if r.escalated and scripted and not prompt_only:
            failed_scripted.append(f"{mode}: {r.escalated} verdicts failed: {r.first_error}")
        elif r.escalated and not prompt_only and r.first_error:
            print(f"  ({r.escalated}/{r.verdicts} escalated, e.g.: {r.first_error[:160]})", flush=True)

    reuse, nore = runs.get("reuse"), runs.get("no-reuse")
    if reuse and nore and reuse.evaluated > 0:
        ratio = nore.evaluated / reuse.evaluated
        print(f"prompt tokens evaluated per verdict: {ratio:.1f}x fewer with prefix reuse (goal >= 10x)")
        answers = "~55-token answers" if scripted else f"~{reuse.completion:.0f}-token answers"
        tail = "; generation dominates on the tiny model" if args.model is None else ""
        print(f"verdicts/s: {reuse.verdicts_s / nore.verdicts_s:.2f}x with prefix reuse ({answers}{tail})")
    rp, np_ = runs.get("reuse/prompt"), runs.get("no-reuse/prompt")
    if rp and np_:
        speedup = rp.verdicts_s / np_.verdicts_s
        print(f"prompt processing alone (1-token answers): {speedup:.2f}x more verdicts/s with prefix reuse")
    for line in _derived(runs):
        print(line)
    print(f"bench time {time.perf_counter() - bench_started:.1f} s")
    for line in failed_scripted:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed_scripted else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
