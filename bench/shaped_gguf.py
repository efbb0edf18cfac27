"""Write a random-weight GGUF with the real gpt-oss-20b shape, for speed and memory benchmarks on a GPU.

Run: ``python bench/shaped_gguf.py OUT.gguf [--layers 24] [--experts 32] [--embd 2880] ...`` (defaults are the
real gpt-oss-20b / gpt-oss-safeguard-20b shape: ~12.1 GB, the size of the ``MXFP4_MOE`` GGUF files). Prints
the size and the seconds it took.

The weights are random, so the model answers garbage; what matters is that llama.cpp runs exactly the
graph, the tensor types and the tensor sizes of the real model, so load time, GPU memory, prompt processing
and generation speed are those of gpt-oss-safeguard-20b:

* 24 blocks, n_embd 2880, 64 query heads and 8 KV heads of 64, attention sinks, sliding window 128 on
  alternate blocks, rope base 150000 with yarn (factor 32 over 4,096 original positions), context 131072;
* 32 experts of ff 2880 with 4 used per token, stored as MXFP4 (as in the real checkpoint);
* the other matrices (embeddings, output, attention) as Q8_0, as ``llama-quantize ... MXFP4_MOE`` and the
  ggml-org GGUF files store them (``--dense-type f16`` writes them as f16 instead, ~13.7 GB);
* the real o200k_harmony vocabulary (201,088 ids), from :mod:`tests.support.tiny_gguf`, so harmony prompts
  tokenize exactly as for the real model.

It is fast because nothing is quantized: MXFP4 and Q8_0 tensors are random bytes of the right byte shape
whose scale bytes are set to a constant that keeps the weights small (MXFP4 block: 1 E8M0 scale byte + 16
bytes of 4-bit values for 32 weights; Q8_0 block: an f16 scale + 32 int8). Tensors are streamed to the file
one at a time, so memory stays at the size of the largest tensor (~0.6 GB), not the whole model. Small
shapes (``--layers 2 --experts 4 --embd 256 ...``) take the same code path, for checks on a CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.tiny_gguf import VOCAB_SIZE, _vocabulary, add_harmony_tokenizer  # noqa: E402

#: MXFP4 block: 32 weights = one E8M0 scale byte + 16 bytes of e2m1 nibbles.
MXFP4_BLOCK, MXFP4_BYTES = 32, 17
#: E8M0 byte 118 = 2**-9: with e2m1 values of at most 6 (ggml doubles them and halves the scale) the
#: weights stay below ~0.012, small enough that activations do not blow up through 24 blocks.
MXFP4_SCALE_BYTE = 118
#: Q8_0 block: 32 weights = an f16 scale + 32 int8. Uniform int8 has a std of ~74, so this scale gives
#: weights of std ~0.02, like the f16 tensors.
Q8_0_BLOCK, Q8_0_BYTES = 32, 34
Q8_0_SCALE = np.float16(0.02 / 74.0)


@dataclass(frozen=True, slots=True)
class ShapeSpec:
    """The model's shape. Defaults are gpt-oss-20b's (config.json of openai/gpt-oss-20b)."""

    n_layer: int = 24
    n_embd: int = 2880
    n_head: int = 64
    n_head_kv: int = 8
    head_dim: int = 64
    n_expert: int = 32
    n_expert_used: int = 4
    n_ff_exp: int = 2880
    sliding_window: int = 128
    context_length: int = 131072
    rope_base: float = 150000.0
    yarn: bool = True
    yarn_factor: float = 32.0
    yarn_orig_ctx: int = 4096
    dense_type: str = "q8_0"  # q8_0 | f16: embeddings, output and attention matrices
    seed: int = 1234
    init_std: float = 0.02

    def check(self) -> None:
        """Raise ValueError for a shape llama.cpp or the block formats cannot take."""
        q_dim = self.n_head * self.head_dim
        for name, value in (("--embd", self.n_embd), ("--ff", self.n_ff_exp), ("heads x head dim", q_dim)):
            if value <= 0 or value % 32:
                raise ValueError(f"{name} must be a positive multiple of 32 (MXFP4/Q8_0 blocks), got {value}")
        if self.n_layer < 1:
            raise ValueError("--layers must be at least 1")
        if self.n_head_kv < 1 or self.n_head % self.n_head_kv:
            raise ValueError("--heads must be a multiple of --kv-heads")
        if not 1 <= self.n_expert_used <= self.n_expert:
            raise ValueError("--experts-used must be between 1 and --experts")
        if self.dense_type not in ("q8_0", "f16"):
            raise ValueError("--dense-type must be q8_0 or f16")


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    shape: tuple[int, ...]  # numpy shape of the logical weights (ggml's shape reversed)
    kind: str  # f32 | f16 | q8_0 | mxfp4 | ones

    def byte_shape(self) -> tuple[int, ...]:
        *lead, row = self.shape
        if self.kind == "mxfp4":
            return (*lead, row // MXFP4_BLOCK * MXFP4_BYTES)
        if self.kind == "q8_0":
            return (*lead, row // Q8_0_BLOCK * Q8_0_BYTES)
        return self.shape

    def dtype(self) -> np.dtype:
        if self.kind in ("mxfp4", "q8_0"):
            return np.dtype(np.uint8)
        return np.dtype(np.float16 if self.kind == "f16" else np.float32)

    def nbytes(self) -> int:
        return int(np.prod(self.byte_shape())) * self.dtype().itemsize


def _tensors(spec: ShapeSpec) -> Iterator[_Tensor]:
    """Every tensor of the gpt-oss graph, in the order and with the names llama.cpp's converter writes."""
    e, v, ff, ne = spec.n_embd, VOCAB_SIZE, spec.n_ff_exp, spec.n_expert
    q_dim, kv_dim = spec.n_head * spec.head_dim, spec.n_head_kv * spec.head_dim
    dense = spec.dense_type
    yield _Tensor("token_embd.weight", (v, e), dense)
    yield _Tensor("output_norm.weight", (e,), "ones")
    yield _Tensor("output.weight", (v, e), dense)
    for i in range(spec.n_layer):
        p = f"blk.{i}."
        yield _Tensor(p + "attn_norm.weight", (e,), "ones")
        yield _Tensor(p + "post_attention_norm.weight", (e,), "ones")
        yield _Tensor(p + "attn_q.weight", (q_dim, e), dense)
        yield _Tensor(p + "attn_q.bias", (q_dim,), "f32")
        yield _Tensor(p + "attn_k.weight", (kv_dim, e), dense)
        yield _Tensor(p + "attn_k.bias", (kv_dim,), "f32")
        yield _Tensor(p + "attn_v.weight", (kv_dim, e), dense)
        yield _Tensor(p + "attn_v.bias", (kv_dim,), "f32")
        yield _Tensor(p + "attn_output.weight", (e, q_dim), dense)
        yield _Tensor(p + "attn_output.bias", (e,), "f32")
        yield _Tensor(p + "attn_sinks.weight", (spec.n_head,), "f32")
        yield _Tensor(p + "ffn_gate_inp.weight", (ne, e), "f32")
        yield _Tensor(p + "ffn_gate_inp.bias", (ne,), "f32")
        yield _Tensor(p + "ffn_gate_exps.weight", (ne, ff, e), "mxfp4")
        yield _Tensor(p + "ffn_up_exps.weight", (ne, ff, e), "mxfp4")
        yield _Tensor(p + "ffn_down_exps.weight", (ne, e, ff), "mxfp4")
        yield _Tensor(p + "ffn_gate_exps.bias", (ne, ff), "f32")
        yield _Tensor(p + "ffn_up_exps.bias", (ne, ff), "f32")
        yield _Tensor(p + "ffn_down_exps.bias", (ne, e), "f32")


def _data_maker(spec: ShapeSpec) -> Callable[[_Tensor], np.ndarray]:
    rng = np.random.default_rng(spec.seed)

    def make(t: _Tensor) -> np.ndarray:
        if t.kind == "ones":
            return np.ones(t.shape, dtype=np.float32)
        if t.kind in ("f32", "f16"):
            data = rng.standard_normal(t.shape, dtype=np.float32)
            data *= spec.init_std
            return data.astype(t.dtype(), copy=False)
        raw = rng.integers(0, 256, size=t.byte_shape(), dtype=np.uint8)
        blocks = raw.reshape(-1, MXFP4_BYTES if t.kind == "mxfp4" else Q8_0_BYTES)
        if t.kind == "mxfp4":
            blocks[:, 0] = MXFP4_SCALE_BYTE
        else:
            blocks[:, :2] = np.frombuffer(Q8_0_SCALE.tobytes(), dtype=np.uint8)
        return raw

    return make


def build_shaped_gguf(path: Path, spec: ShapeSpec | None = None, *, log: Callable[[str], None] = print) -> int:
    """Write the model to ``path``; returns its size in bytes."""
    import gguf

    spec = spec or ShapeSpec()
    spec.check()
    started = time.perf_counter()
    tokens, types, merges = _vocabulary()
    log(f"vocabulary ready in {time.perf_counter() - started:.1f} s")

    writer = gguf.GGUFWriter(str(path), "gpt-oss")
    writer.add_name("modbot shaped gpt-oss (random weights, benchmarks only)")
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff_exp)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_key_length(spec.head_dim)
    writer.add_value_length(spec.head_dim)
    writer.add_rope_freq_base(spec.rope_base)
    if spec.yarn:  # what llama.cpp's converter writes from gpt-oss's config.json rope_scaling
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(spec.yarn_factor)
        writer.add_rope_scaling_orig_ctx_len(spec.yarn_orig_ctx)
        writer.add_rope_scaling_yarn_beta_fast(32.0)
        writer.add_rope_scaling_yarn_beta_slow(1.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_expert_count(spec.n_expert)
    writer.add_expert_used_count(spec.n_expert_used)
    writer.add_expert_feed_forward_length(spec.n_ff_exp)
    writer.add_sliding_window(spec.sliding_window)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_MXFP4_MOE)

    add_harmony_tokenizer(writer, tokens, types, merges)

    qtypes = {"mxfp4": gguf.GGMLQuantizationType.MXFP4, "q8_0": gguf.GGMLQuantizationType.Q8_0}
    tensors = list(_tensors(spec))
    # Stream: declare every tensor first, then generate and write them one by one.
    for t in tensors:
        writer.add_tensor_info(t.name, t.byte_shape(), t.dtype(), t.nbytes(), raw_dtype=qtypes.get(t.kind))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    make = _data_maker(spec)
    for t in tensors:
        writer.write_tensor_data(make(t))
    writer.close()
    return path.stat().st_size


def _parse(argv: list[str] | None) -> tuple[Path, ShapeSpec]:
    d = ShapeSpec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .gguf file to write")
    parser.add_argument("--layers", type=int, default=d.n_layer)
    parser.add_argument("--experts", type=int, default=d.n_expert)
    parser.add_argument("--experts-used", type=int, default=d.n_expert_used)
    parser.add_argument("--embd", type=int, default=d.n_embd)
    parser.add_argument("--heads", type=int, default=d.n_head)
    parser.add_argument("--kv-heads", type=int, default=d.n_head_kv)
    parser.add_argument("--head-dim", type=int, default=d.head_dim)
    parser.add_argument("--ff", type=int, default=d.n_ff_exp, help="expert feed-forward width")
    parser.add_argument("--ctx", type=int, default=d.context_length, help="training context length")
    parser.add_argument("--dense-type", choices=("q8_0", "f16"), default=d.dense_type)
    parser.add_argument("--no-yarn", action="store_true", help="leave out the yarn rope scaling keys")
    parser.add_argument("--seed", type=int, default=d.seed)
    a = parser.parse_args(argv)
    spec = ShapeSpec(
        n_layer=a.layers,
        n_embd=a.embd,
        n_head=a.heads,
        n_head_kv=a.kv_heads,
        head_dim=a.head_dim,
        n_expert=a.experts,
        n_expert_used=min(a.experts_used, a.experts),
        n_ff_exp=a.ff,
        context_length=a.ctx,
        yarn=not a.no_yarn,
        dense_type=a.dense_type,
        seed=a.seed,
    )
    try:
        spec.check()
    except ValueError as exc:
        parser.error(str(exc))
    return a.out, spec


def main(argv: list[str] | None = None) -> int:
    out, spec = _parse(argv)
    out.parent.mkdir(parents=True, exist_ok=True)
    planned = sum(t.nbytes() for t in _tensors(spec))
    print(f"writing {out}: {spec}\nplanned tensor data {planned / 1e9:.2f} GB", flush=True)
    started = time.perf_counter()
    size = build_shaped_gguf(out, spec, log=lambda line: print(line, flush=True))
    elapsed = time.perf_counter() - started
    print(f"wrote {out} ({size / 1e9:.2f} GB) in {elapsed:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
