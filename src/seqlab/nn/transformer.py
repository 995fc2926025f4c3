"""Vaswani et al. (2017), "Attention Is All You Need": encoder-decoder and decoder-only LM.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V                        Eq. 1
    MultiHead(Q, K, V) = Concat(head_1..head_h) W^O,
        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)                          Sec. 3.2.2
    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2                                   Eq. 2
    PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(...)         Sec. 3.5
    post-norm sublayer: LayerNorm(x + Dropout(f(x)))                         Sec. 5.4
    pre-norm sublayer:  x + Dropout(f(LayerNorm(x)))  (Xiong et al. 2020; a final
                        LayerNorm closes each stack)

Embeddings are scaled by sqrt(d_model) (Sec. 3.4); ``tie_embeddings`` shares the target
embedding with the output projection (Press & Wolf 2017). Label smoothing lives in the
loss (``seqlab.nn.seq2seq.sequence_loss``). Incremental decoding keeps, per decoder layer,
the self-attention keys/values of the prefix (grown one row per step) and the
cross-attention keys/values of the source (computed once in ``init_state``).

On CUDA the attention kernels are chosen explicitly: flash, then memory-efficient, then
the math fallback, never cuDNN's. Recent torch prefers cuDNN attention on Hopper GPUs,
and it builds a kernel graph (hundreds of ms) for every new (B, heads, T, S), so a run
whose padded batch shapes vary (translation) stalls for its first tens of steps.
Causal self-attention passes ``is_causal`` there instead of a (T, T) mask, which lets
the flash kernel run and skip the masked half. On CPUs nothing changes: the explicit
bool masks go to ``seqlab.nn.attention.scaled_dot_product`` as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from seqlab.nn.attention import scaled_dot_product
from seqlab.nn.dropout import Dropout
from seqlab.nn.seq2seq import EncoderDecoder, Memory

KV = tuple[torch.Tensor, torch.Tensor]  # keys, values: (B, H, S, d) each

# fused attention kernels allowed on CUDA, best first (see the module docstring: no cuDNN)
CUDA_KERNELS = (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH)


def sinusoidal_positions(length: int, dim: int, offset: int = 0, device=None) -> torch.Tensor:
    """PE rows offset..offset+length-1 of Sec. 3.5: (length, dim)."""
    pos = torch.arange(offset, offset + length, device=device, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(T, T) bool, True where query t may attend key s <= t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def causal_self_mask(length: int, device) -> torch.Tensor | None:
    """The mask to pass with ``causal=True``: None on CUDA (``is_causal`` replaces it),
    else ``causal_mask`` (built once per forward, shared by the layers)."""
    return None if torch.device(device).type == "cuda" else causal_mask(length, device)


def on_cuda_kernels(t: torch.Tensor) -> bool:
    """Whether attention on ``t`` goes to ``cuda_attention`` (CUDA tensors; the CPU path is unchanged)."""
    return t.is_cuda


def cuda_attention(q, k, v, mask: torch.Tensor | None, dropout: float, causal: bool) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d_k)) V by a fused CUDA kernel among ``CUDA_KERNELS``.

    q (B, H, T, d), k and v (B, H, S, d); ``causal`` (T == S) masks keys s > t with
    ``is_causal`` (flash-eligible), else ``mask`` (bool, True = may attend) is applied.
    Returns (B, H, T, d).
    """
    with sdpa_kernel(list(CUDA_KERNELS)):
        if causal:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)


def round_up(length: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``length``."""
    return -(-length // multiple) * multiple


class MultiHeadAttention(nn.Module):
    """Multi-head attention; SDPA kernels by default, explicit weights when asked."""

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.heads, self.dropout = heads, dropout
        self.q, self.k, self.v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.o = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, d)

    def project_kv(self, x: torch.Tensor) -> KV:
        """K = x W^K, V = x W^V split into heads: (B, S, D) -> 2 x (B, H, S, d)."""
        return self._split(self.k(x)), self._split(self.v(x))

    def attend(self, x: torch.Tensor, kv: KV, mask: torch.Tensor | None, need_weights: bool = False,
               causal: bool = False):
        """Queries from x (B, T, D) over given keys/values; returns (out (B, T, D), weights).

        ``causal``: self-attention over the same T positions with key s visible to query
        t <= s only; ``mask`` is then ``causal_self_mask``'s (None on CUDA).
        """
        q = self._split(self.q(x))  # (B, H, T, d)
        p = self.dropout if self.training else 0.0
        if on_cuda_kernels(q) and not need_weights:
            out, weights = cuda_attention(q, kv[0], kv[1], mask, p, causal), None  # (B, H, T, d)
        else:
            if causal and mask is None:
                mask = causal_mask(q.size(2), q.device)  # (T, T)
            out, weights = scaled_dot_product(q, kv[0], kv[1], mask, p, need_weights)  # (B, H, T, d)
        b, h, t, d = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, h * d)), weights  # (B, T, D)

    def forward(self, x, source, mask=None, need_weights: bool = False, causal: bool = False):
        """x (B, T, D) attends over source (B, S, D); mask broadcastable to (B, H, T, S)."""
        return self.attend(x, self.project_kv(source), mask, need_weights, causal)


class FeedForward(nn.Sequential):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2 (Eq. 2)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__(nn.Linear(d_model, d_ff), nn.ReLU(), Dropout(dropout), nn.Linear(d_ff, d_model))


class Sublayer(nn.Module):
    """Residual + LayerNorm around one sublayer, pre-norm or post-norm (see module doc)."""

    def __init__(self, d_model: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.norm, self.drop, self.pre_norm = nn.LayerNorm(d_model), Dropout(dropout), pre_norm

    def inp(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.pre_norm else x

    def out(self, x: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        y = x + self.drop(fx)
        return y if self.pre_norm else self.norm(y)


class EncoderLayer(nn.Module):
    """Self-attention + FFN (Sec. 3.1); with a causal mask it is a decoder-only LM layer."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.attn, self.ff = MultiHeadAttention(d_model, heads, dropout), FeedForward(d_model, d_ff, dropout)
        self.s1, self.s2 = Sublayer(d_model, dropout, pre_norm), Sublayer(d_model, dropout, pre_norm)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool = False) -> torch.Tensor:
        """x (B, T, D); ``causal`` as in ``MultiHeadAttention.attend``."""
        h = self.s1.inp(x)
        x = self.s1.out(x, self.attn(h, h, mask, causal=causal)[0])
        return self.s2.out(x, self.ff(self.s2.inp(x)))  # (B, T, D)


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the memory, FFN (Sec. 3.1)."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, dropout)
        self.cross = MultiHeadAttention(d_model, heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.s1, self.s2, self.s3 = (Sublayer(d_model, dropout, pre_norm) for _ in range(3))

    def forward(self, x, self_kv: KV | None, self_mask, cross_kv: KV, cross_mask, need_weights=False,
                causal: bool = False):
        """x (B, T, D). ``self_kv`` = cached prefix keys/values (None: teacher forcing, where
        ``causal`` says ``self_mask`` is the causal one).

        Returns (x (B, T, D), new self keys/values of the whole prefix, cross weights).
        """
        h = self.s1.inp(x)
        k, v = self.self_attn.project_kv(h)  # (B, H, T, d)
        if self_kv is not None:
            k, v = torch.cat([self_kv[0], k], 2), torch.cat([self_kv[1], v], 2)  # (B, H, t+T, d)
        x = self.s1.out(x, self.self_attn.attend(h, (k, v), self_mask, causal=causal)[0])
        ctx, weights = self.cross.attend(self.s2.inp(x), cross_kv, cross_mask, need_weights)
        x = self.s2.out(x, ctx)
        return self.s3.out(x, self.ff(self.s3.inp(x))), (k, v), weights


@dataclass(frozen=True)
class TransformerState:
    """Per decoder layer: self-attention cache and source keys/values; ``step`` = prefix length."""

    self_kv: tuple[KV, ...]
    cross_kv: tuple[KV, ...]
    step: int


class Transformer(EncoderDecoder):
    """Transformer encoder-decoder; attention weights are the last decoder layer's
    cross-attention, (B, heads, T, S), returned when ``need_weights``.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.  d_model, heads, d_ff: widths.
        enc_layers, dec_layers: stack depths.  pre_norm: pre-norm instead of post-norm.
        tie_embeddings: target embedding == output projection.
        pad_multiple: teacher forcing (``forward``) pads S and T up to a multiple of this
            (None: 8 on CUDA, 1 = none elsewhere). Padding is masked out of every real
            position (source keys by the mask, target keys by causality) and the extra
            outputs are cut off, so the loss and gradients do not change; on a GPU it keeps
            the number of distinct kernel shapes small and tensor-core dimensions aligned.
    """

    def __init__(
        self, src_vocab: int, tgt_vocab: int, d_model: int = 128, heads: int = 4, d_ff: int = 512,
        enc_layers: int = 3, dec_layers: int = 3, dropout: float = 0.1, pre_norm: bool = True,
        tie_embeddings: bool = False, pad_id: int = 0, pad_multiple: int | None = None,
    ) -> None:
        super().__init__()
        self.d_model, self.pad_id, self.pad_multiple = d_model, pad_id, pad_multiple
        self.src_embed = nn.Embedding(src_vocab, d_model, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model, padding_idx=pad_id)
        for emb in (self.src_embed, self.tgt_embed):  # N(0, d^-1/2): unit scale after * sqrt(d)
            nn.init.normal_(emb.weight, std=d_model**-0.5)
        self.drop = Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, heads, d_ff, dropout, pre_norm) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, d_ff, dropout, pre_norm) for _ in range(dec_layers))
        self.enc_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.dec_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.out = nn.Linear(d_model, tgt_vocab, bias=False)
        if tie_embeddings:
            self.out.weight = self.tgt_embed.weight

    def _embed(self, emb: nn.Embedding, tokens: torch.Tensor, offset: int = 0) -> torch.Tensor:
        pe = sinusoidal_positions(tokens.size(1), self.d_model, offset, tokens.device)  # (T, D)
        return self.drop(emb(tokens) * math.sqrt(self.d_model) + pe)  # (B, T, D)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        x = self._embed(self.src_embed, src)  # (B, S, D)
        key_mask = src_mask[:, None, None, :]  # (B, 1, 1, S)
        for layer in self.encoder:
            x = layer(x, key_mask)
        return Memory(outputs=self.enc_norm(x), mask=src_mask)

    def init_state(self, memory: Memory) -> TransformerState:
        b, d, h = memory.outputs.size(0), self.d_model, self.decoder[0].self_attn.heads
        empty = memory.outputs.new_zeros(b, h, 0, d // h)  # (B, H, 0, d)
        cross = tuple(layer.cross.project_kv(memory.outputs) for layer in self.decoder)
        return TransformerState(self_kv=tuple((empty, empty) for _ in self.decoder), cross_kv=cross, step=0)

    def _run_decoder(self, x, self_kvs, self_mask, cross_kvs, cross_mask, need_weights, causal=False):
        new_kv, weights = [], None
        for i, layer in enumerate(self.decoder):
            last = i == len(self.decoder) - 1
            x, kv, w = layer(x, self_kvs[i], self_mask, cross_kvs[i], cross_mask, need_weights and last, causal)
            new_kv.append(kv)
            weights = w if last else weights
        return self.out(self.dec_norm(x)), tuple(new_kv), weights  # (B, T, V)

    def decode_step(self, prev_tokens, state: TransformerState, memory: Memory, need_weights: bool = False):
        x = self._embed(self.tgt_embed, prev_tokens.unsqueeze(1), state.step)  # (B, 1, D)
        cross_mask = memory.mask[:, None, None, :]  # (B, 1, 1, S)
        logits, kv, w = self._run_decoder(x, state.self_kv, None, state.cross_kv, cross_mask, need_weights)
        attn = None if w is None else w.squeeze(2)  # (B, H, S)
        return logits.squeeze(1), TransformerState(kv, state.cross_kv, state.step + 1), attn

    def reorder_state(self, state: TransformerState, index):
        def pick(kvs):
            return tuple((k.index_select(0, index), v.index_select(0, index)) for k, v in kvs)

        return TransformerState(pick(state.self_kv), pick(state.cross_kv), state.step)

    def forward(self, src, src_mask, tgt_in, need_weights: bool = False):
        (S, T), multiple = (src.size(1), tgt_in.size(1)), self._multiple(src.device)
        if multiple > 1:  # see pad_multiple: (B, S') and (B, T'), padding masked, cut off below
            src, src_mask = self._pad(src, multiple, self.pad_id), self._pad(src_mask, multiple, False)
            tgt_in = self._pad(tgt_in, multiple, self.pad_id)
        memory = self.encode(src, src_mask)
        x = self._embed(self.tgt_embed, tgt_in)  # (B, T, D)
        cross = tuple(layer.cross.project_kv(memory.outputs) for layer in self.decoder)
        self_mask = causal_self_mask(tgt_in.size(1), tgt_in.device)  # (T, T), None on CUDA
        no_cache = (None,) * len(self.decoder)
        logits, _, w = self._run_decoder(x, no_cache, self_mask, cross, src_mask[:, None, None, :], need_weights,
                                         causal=True)
        return logits[:, :T], None if w is None else w[:, :, :T, :S]  # (B, T, V), (B, H, T, S) or None

    def _multiple(self, device: torch.device) -> int:
        if self.pad_multiple is not None:
            return self.pad_multiple
        return 8 if device.type == "cuda" else 1

    @staticmethod
    def _pad(x: torch.Tensor, multiple: int, value) -> torch.Tensor:
        """x (B, L) right-padded with ``value`` to (B, round_up(L, multiple))."""
        extra = round_up(x.size(1), multiple) - x.size(1)
        return x if extra == 0 else torch.cat([x, x.new_full((x.size(0), extra), value)], 1)


class TransformerLM(nn.Module):
    """Decoder-only Transformer backbone: causal self-attention layers over (B, T, E).

    Follows the backbone convention of ``seqlab.nn.SequenceModel``:
    ``forward(x, state=None) -> (out (B, T, d_model), None)``; it keeps no state
    between calls (each call sees positions 0..T-1).
    """

    def __init__(
        self, input_dim: int, d_model: int = 128, heads: int = 4, d_ff: int = 512,
        num_layers: int = 2, dropout: float = 0.1, pre_norm: bool = True,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.inp = nn.Identity() if input_dim == d_model else nn.Linear(input_dim, d_model)
        self.drop = Dropout(dropout)
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, d_ff, dropout, pre_norm) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()

    def forward(self, x: torch.Tensor, state=None, lengths: torch.Tensor | None = None):
        """x (B, T, E) -> (out (B, T, d_model), None). Right padding needs no mask (causal)."""
        del state, lengths  # stateless; causal attention never reads right padding
        h = self.drop(self.inp(x) + sinusoidal_positions(x.size(1), self.d_model, 0, x.device))
        mask = causal_self_mask(x.size(1), x.device)  # (T, T); None on CUDA (is_causal)
        for layer in self.layers:
            h = layer(h, mask, causal=True)
        return self.norm(h), None
