"""Throughput of the keyword/regex stage: messages per second of ``KeywordMatcher.scan`` on one core.

Run from the repository root::

    .venv/bin/python bench/keywords.py [--messages 50000] [--repeat 3] [--inline-policy] [--synthetic]

The matcher is built from ``policies/game-community.md`` when it exists, else from an inline policy
with about 100 keywords and 10 regexes. Messages are the texts of ``../shared/data/gametox.jsonl``
when present (the labelled World of Tanks chat), else a seeded synthetic mix of chat lines, evasions,
emoji and non-Latin text. Beside the figure it prints a same-run reference: a bare loop of
``text.lower()`` and ``keyword in text`` over the same keywords (substring checks, no whole-word
logic, no normalisation, no regexes), so numbers from a busy machine can still be compared.
Goal: at least 50,000 messages/s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, without installing the package

from modbot.stages.keywords import KeywordMatcher
from modbot.domain.policy import Policy, parse_policy
from modbot.policy_files import load_policy

GOAL = 50_000
POLICY_PATH = ROOT / "policies" / "game-community.md"
DATA_PATH = ROOT.parent / "shared" / "data" / "gametox.jsonl"

_KEYWORDS = {
    "cheats": [
        "aimbot", "wallhack", "esp hack", "triggerbot", "spinbot", "cheat engine", "mod menu", "unlock all",
        "silent aim", "no recoil", "speedhack", "god mode", "injector", "undetected", "hwid spoofer",
        "cheat provider", "rage hack", "legit cheat", "radar hack", "bhop script",
    ],
    "scams": [
        "free nitro", "nitro giveaway", "steam gift", "free skins", "skin giveaway", "claim your prize",
        "dm me", "dm for price", "account for sale", "selling account", "boosting service", "elo boost",
        "rank boost", "cheap coins", "gold seller", "paypal only", "crypto giveaway", "double your",
        "limited offer", "click the link",
    ],
    "slurs": [
        "slurone", "slurtwo", "slurthree", "slurfour", "slurfive", "slursix", "slurseven", "sluright",
        "slurnine", "slurten", "cunt", "faggot", "retard", "tranny", "spastic", "mongoloid", "kys",
        "kill yourself", "neck yourself", "go die",
    ],
    "insults": [
        "idiot", "moron", "stupid", "dumbass", "asshole", "bitch", "noob", "trash", "garbage", "loser",
        "shut up", "uninstall", "braindead", "clown", "pathetic", "useless", "worthless", "fuck", "shit", "ass",
    ],
    "threats": [
        "i will find you", "find your house", "dox", "doxx", "swat", "ddos", "i know where you live",
        "you are dead", "watch your back", "ip grabber",
    ],
}
_REGEXES = [
    r"\bsell\w*\b.{0,40}\b(cheat|hack|aimbot)s?\b",
    r"discord(app)?\.(gg|gift|com/invite)/\w+",
    r"\bsteam(community|powered)?[-.]?\w*\.(ru|xyz|top|click)\b",
    r"\b(bit\.ly|tinyurl\.com|t\.co)/\w+",
    r"\b\d{1,3}(\.\d{1,3}){3}\b",
    r"\b(free|cheap)\s+(skins?|coins?|gold|nitro|robux)\b",
    r"\bk+\s*y+\s*s+\b",
    r"(https?://\S+\s*){4,}",
    r"\b(whatsapp|telegram)\s*[:@+]?\s*\+?\d[\d\s-]{6,}",
    r"\bpaypal\.me/\w+",
]


def _inline_policy() -> Policy:
    lines = ['+++', 'id = "bench"', 'title = "Bench"', "[actions]", 'high = "remove"', 'low = "flag"']
    for index, (category, words) in enumerate(_KEYWORDS.items()):
        lines += ["[[categories]]", f'id = "{category}"', f'title = "{category}"', "[[categories.rules]]",
                  f'id = "R{index}"', f'description = "{category}"', 'severity = "high"',
                  f"keywords = {json.dumps(words)}", f"act_on_match = {'true' if category == 'slurs' else 'false'}"]
    lines += ["[[categories.rules]]", 'id = "RX"', 'description = "patterns"', 'severity = "low"',
              "regexes = [" + ", ".join(f"'{r}'" for r in _REGEXES) + "]", "+++", "Benchmark policy body."]
    return parse_policy("\n".join(lines) + "\n", source="<bench inline policy>")


def _synthetic_messages(count: int) -> list[str]:
    rng = random.Random(1234)
    plain = ("gg", "nice shot", "anyone want to play ranked later tonight", "lol", "who is carrying this team",
             "wp all", "go mid", "defend the base please", "my internet is lagging so bad rn", "1v1 me",
             "that was a close one", "need heals", "push b", "thanks for the game", "brb 5 min", "ez",
             "Can someone explain how the new patch changed the economy?", "i'm out of ammo", "omg!!!",
             "what time is the tournament on saturday", "ok", "noob team", "rush A", "afk 2 mins")
    spicy = ("you are an idiot", "kys", "s e l l i n g cheats cheap", "free nitro discord.gift/abc123",
             "fuuuuuck this", "u r a d1ck", "4ss", "DM me for elo boost", "a$$hole", "uninstall the game")
    unicode = ("Привет всем, играем?", "gg 🔥🔥🔥", "ｆｒｅｅ ｎｉｔｒｏ", "你好", "café au lait team", "𝐧𝐨𝐨𝐛",
               "Ünïcödé spëlling", "wp 👍")
    messages = []
    for _ in range(count):
        roll = rng.random()
        pool = plain if roll < 0.8 else spicy if roll < 0.92 else unicode
        messages.append(rng.choice(pool))
    return messages


def _load_messages(count: int) -> tuple[list[str], str]:
    if DATA_PATH.exists():
        texts: list[str] = []
        with DATA_PATH.open(encoding="utf-8") as handle:
            for line in handle:
                texts.append(json.loads(line)["text"])
        # Repeat the file if it is shorter than asked; the order stays the file's.
        out = (texts * (count // len(texts) + 1))[:count]
        return out, f"{DATA_PATH} ({len(texts)} rows)"
    return _synthetic_messages(count), "synthetic mix (no ../shared/data/gametox.jsonl)"


def _rate(func, messages: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(messages)
        best = min(best, time.perf_counter() - start)
    return len(messages) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best one is reported")
    parser.add_argument("--inline-policy", action="store_true", help="use the inline policy even if the file exists")
    parser.add_argument("--synthetic", action="store_true", help="use synthetic messages even if the data exists")
    args = parser.parse_args(argv)

    use_file = POLICY_PATH.exists() and not args.inline_policy
    policy = load_policy(POLICY_PATH) if use_file else _inline_policy()
    started = time.perf_counter()
    matcher = KeywordMatcher.build(policy)
    build_ms = (time.perf_counter() - started) * 1000
    keywords = [h.term for h in matcher.hit_terms if h.kind == "keyword"]
    regex_count = sum(1 for h in matcher.hit_terms if h.kind == "regex")
    if args.synthetic:
        messages, source = _synthetic_messages(args.messages), "synthetic mix"
    else:
        messages, source = _load_messages(args.messages)

    def scan_all(batch: list[str]) -> None:
        scan = matcher.scan
        for text in batch:
            scan(text)

    lowered_keywords = [k.lower() for k in keywords]

    def reference(batch: list[str]) -> None:
        for text in batch:
            low = text.lower()
            for keyword in lowered_keywords:
                if keyword in low:
                    break

    flagged = sum(1 for text in messages if matcher.scan(text).matched)
    ref_rate = _rate(reference, messages, args.repeat)
    scan_rate = _rate(scan_all, messages, args.repeat)

    hostile = "a" * 50_000 + "\u200b" * 25_000 + "а$$ " * 6_000
    started = time.perf_counter()
    matcher.scan(hostile)
    hostile_ms = (time.perf_counter() - started) * 1000

    print(f"policy:     {policy.source} ({len(keywords)} keywords, {regex_count} regexes, built in {build_ms:.1f} ms)")
    print(f"messages:   {len(messages)} from {source}; {flagged} ({flagged / len(messages):.1%}) had a hit")
    print(f"scan:       {scan_rate:>10,.0f} messages/s  ({1e6 / scan_rate:.1f} us/message)")
    print(f"reference:  {ref_rate:>10,.0f} messages/s  (bare str.lower() + 'in' over the same keywords)")
    print(f"goal:       {GOAL:>10,} messages/s  -> {'met' if scan_rate >= GOAL else 'NOT met'}")
    print(f"hostile:    {len(hostile):,}-char message scanned in {hostile_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
