"""The only factory: frozen config dataclasses -> modules.

Leaf modules take plain numbers and classes; this file is where a config's names
become constructor calls, through the one literal name -> class map below. Task
models (``ModelConfig``) come from ``build_model``, encoder-decoders (``MTModel``)
from ``build_translator``: the [model] table of every recipe is one of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from seqlab.config import ranged
from seqlab.errors import ConfigError
from seqlab.nn import init as inits
from seqlab.nn.attention_backbone import AttentionBackbone
from seqlab.nn.bahdanau import Bahdanau
from seqlab.nn.conv import ConvS2S
from seqlab.nn.luong import Luong
from seqlab.nn.recurrent import GRU, LSTM, RNN
from seqlab.nn.scan import MinGRU, MinLSTM
from seqlab.nn.seq2seq import EncoderDecoder, Seq2Seq
from seqlab.nn.sequence import SequenceModel
from seqlab.nn.transformer import Transformer

# The CLI's name -> (class, fixed keyword arguments) map for recurrent backbones.
ARCHS: dict[str, tuple[type[nn.Module], dict]] = {
    "rnn_tanh": (RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "mingru": (MinGRU, {}),
    "minlstm": (MinLSTM, {}),
}

# Parallel-scan recurrences: no hidden-to-hidden matrix, no direction, no backend choice.
PARALLEL_ARCHS = ("mingru", "minlstm")

# Self-attention backbone (seqlab.nn.attention_backbone): not recurrent, so not in ARCHS.
TRANSFORMER = "transformer"
DEFAULT_HEADS = 4
FF_MULT = 4  # the FFN's inner width is FF_MULT x d_model (Vaswani et al.: 2048 = 4 x 512)

ARCH_HELP = {
    "rnn_tanh": "Elman RNN, h_t = tanh(W_ih x_t + W_hh h_{t-1} + b)",
    "rnn_relu": "Elman RNN with ReLU (pair it with init = 'identity' for an IRNN)",
    "lstm": "LSTM (Hochreiter & Schmidhuber 1997), forget gate (Gers et al. 2000)",
    "gru": "GRU (Cho et al. 2014)",
    "mingru": "minGRU (Feng et al. 2024): gates read x_t only; trained with a parallel log-space scan",
    "minlstm": "minLSTM (Feng et al. 2024): normalized forget/input gates from x_t; parallel scan",
    "transformer": "Transformer encoder (Vaswani et al. 2017), pre-norm, sinusoidal positions; causal "
                   "self-attention (bidirectional = true: sees the whole sequence)",
}


@dataclass(frozen=True)
class ModelConfig:
    """A recurrent task model: input layer -> backbone -> per-step linear head.

    init: "default" (torch's uniform), "xavier", "orthogonal" (W_hh) or "identity"
    (W_hh = init_scale * I, the IRNN). forget_bias sets the LSTM forget-gate bias.
    "mingru" / "minlstm" (``seqlab.nn.scan``) are unidirectional, have no W_hh to
    initialize and a single implementation (``backend`` does not apply to them).

    "transformer" (``seqlab.nn.attention_backbone``): hidden_size = d_model, num_layers
    encoder layers of ``heads`` heads (default 4; d_model must divide evenly) and an FFN
    of width 4 x d_model. It is causal (output at t sees x_<=t only, a drop-in for a
    unidirectional RNN); bidirectional = true makes it a non-causal encoder. It has no
    W_hh ('init', 'init_scale' do not apply) and one implementation ('backend' is unused).
    """

    arch: Literal["rnn_tanh", "rnn_relu", "lstm", "gru", "mingru", "minlstm", "transformer"] = "lstm"
    hidden_size: int = ranged(128, 1, 1 << 16)
    num_layers: int = ranged(1, 1, 64)
    bidirectional: bool = False
    dropout: float = ranged(0.0, 0.0, 0.99)
    backend: Literal["cell", "fused"] = "fused"
    init: Literal["default", "xavier", "orthogonal", "identity"] = "default"
    init_scale: float = ranged(1.0, 0.0, 100.0)
    forget_bias: float | None = ranged(None, -100.0, 100.0)
    embed_dim: int = ranged(32, 1, 1 << 16)
    heads: int | None = ranged(None, 1, 1 << 10)

    def __post_init__(self) -> None:
        if self.forget_bias is not None and self.arch != "lstm":
            raise ConfigError(f"'forget_bias' applies to arch 'lstm' only, not '{self.arch}'")
        if self.heads is not None and self.arch != TRANSFORMER:
            raise ConfigError(f"'heads' applies to arch 'transformer' only, not '{self.arch}'")
        if self.arch == TRANSFORMER:
            heads = self.num_heads
            if heads < 1 or self.hidden_size % heads:
                raise ConfigError(f"arch 'transformer' splits hidden_size = d_model across heads: hidden_size "
                                  f"{self.hidden_size} is not divisible by heads {heads}")
            if self.init != "default" or self.init_scale != 1.0:
                raise ConfigError("arch 'transformer' has no hidden-to-hidden matrix: 'init' and 'init_scale' "
                                  "do not apply")
        if self.arch in PARALLEL_ARCHS:
            if self.bidirectional:
                raise ConfigError(f"arch '{self.arch}' is unidirectional; set bidirectional = false")
            if self.init != "default" or self.init_scale != 1.0:
                raise ConfigError(f"arch '{self.arch}' has no hidden-to-hidden matrix: 'init' and 'init_scale' "
                                  "do not apply")

    @property
    def num_heads(self) -> int:
        """Attention heads of arch 'transformer' (``heads``, else the default 4)."""
        return DEFAULT_HEADS if self.heads is None else self.heads

    @property
    def features(self) -> int:
        """The backbone's output width: 2H for a bidirectional RNN, else H."""
        return self.hidden_size * (2 if self.bidirectional and self.arch != TRANSFORMER else 1)


@dataclass(frozen=True)
class MTModel:
    """Encoder-decoder architecture and sizes; each arch reads the fields it needs.

    hidden: RNN width, Transformer d_model, ConvS2S channels.  layers: per stack.
    score / attention / half_width / input_feed: Luong.  heads / ff / pre_norm /
    tie_embeddings: Transformer.  kernel: ConvS2S.  reverse_source: Seq2Seq.
    """

    arch: Literal["seq2seq", "bahdanau", "luong", "transformer", "convs2s"] = "transformer"
    embed_dim: int = ranged(256, 1, 1 << 14)
    hidden: int = ranged(256, 1, 1 << 14)
    layers: int = ranged(2, 1, 32)
    dropout: float = ranged(0.1, 0.0, 0.9)
    cell: Literal["lstm", "gru"] = "lstm"
    reverse_source: bool = True
    score: Literal["dot", "general", "concat"] = "general"
    attention: Literal["global", "local-m", "local-p"] = "global"
    half_width: int = ranged(10, 1)
    input_feed: bool = True
    heads: int = ranged(4, 1, 64)
    ff: int = ranged(1024, 1)
    pre_norm: bool = True
    tie_embeddings: bool = False
    kernel: int = ranged(3, 1, 31)


def build_backbone(cfg: ModelConfig, input_size: int) -> nn.Module:
    if cfg.arch == TRANSFORMER:  # bidirectional = non-causal: every step sees the whole sequence
        return AttentionBackbone(input_size, cfg.hidden_size, cfg.num_heads, FF_MULT * cfg.hidden_size,
                                 num_layers=cfg.num_layers, dropout=cfg.dropout, causal=not cfg.bidirectional)
    cls, fixed = ARCHS[cfg.arch]
    if cfg.arch in PARALLEL_ARCHS:  # batch first by design; trained with the parallel scan
        return cls(input_size, cfg.hidden_size, num_layers=cfg.num_layers, dropout=cfg.dropout)
    backbone = cls(
        input_size,
        cfg.hidden_size,
        num_layers=cfg.num_layers,
        batch_first=True,
        dropout=cfg.dropout,
        bidirectional=cfg.bidirectional,
        backend=cfg.backend,
        **fixed,
    )
    apply_init(backbone, cfg)
    return backbone


def apply_init(module: nn.Module, cfg: ModelConfig) -> None:
    if cfg.init == "xavier":
        inits.xavier_(module)
    elif cfg.init == "orthogonal":
        inits.orthogonal_(module)
        if cfg.init_scale != 1.0:
            scale_hidden_(module, cfg.init_scale)
    elif cfg.init == "identity":
        inits.identity_(module, scale=cfg.init_scale)
    elif cfg.init_scale != 1.0:
        scale_hidden_(module, cfg.init_scale)
    if cfg.forget_bias is not None:
        inits.forget_gate_bias_(module, cfg.forget_bias)


@torch.no_grad()
def scale_hidden_(module: nn.Module, scale: float) -> None:
    """Multiply every hidden-to-hidden matrix by ``scale`` (the init-scale sweeps)."""
    for name, p in module.named_parameters():
        if "weight_hh" in name:
            p.mul_(scale)


def build_model(cfg: ModelConfig, task) -> SequenceModel:
    """The model for ``task``: token ids get an embedding, features a linear map."""
    backbone = build_backbone(cfg, cfg.embed_dim)
    return SequenceModel(
        backbone,
        cfg.features,
        task.output_dim,
        vocab_size=task.vocab_size,
        input_dim=task.input_dim,
        embed_dim=cfg.embed_dim,
    )


def build_translator(cfg: MTModel, src_vocab: int, tgt_vocab: int, max_positions: int = 1024) -> EncoderDecoder:
    """The encoder-decoder named by ``cfg.arch``; ``cfg.cell`` picks its recurrent layer from ARCHS."""
    cell = ARCHS[cfg.cell][0]
    match cfg.arch:
        case "seq2seq":
            return Seq2Seq(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.layers, cfg.dropout,
                           cfg.reverse_source, cell)
        case "bahdanau":
            return Bahdanau(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.hidden, cfg.layers,
                            cfg.layers, cfg.dropout, cell)
        case "luong":
            return Luong(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.layers, cfg.score,
                         cfg.attention, cfg.half_width, cfg.input_feed, cfg.dropout, cell)
        case "transformer":
            return Transformer(src_vocab, tgt_vocab, cfg.hidden, cfg.heads, cfg.ff, cfg.layers, cfg.layers,
                               cfg.dropout, cfg.pre_norm, cfg.tie_embeddings)
        case "convs2s":
            return ConvS2S(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.layers, cfg.layers,
                           cfg.kernel, cfg.dropout, max_positions)
    raise AssertionError(f"unreachable: arch {cfg.arch!r} passed validation")
