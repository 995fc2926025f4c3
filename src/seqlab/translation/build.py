"""The translation factory: an ``MTModel`` config and vocabulary sizes -> an encoder-decoder."""

from __future__ import annotations

from seqlab.nn.bahdanau import Bahdanau
from seqlab.nn.conv import ConvS2S
from seqlab.nn.luong import Luong
from seqlab.nn.seq2seq import EncoderDecoder, Seq2Seq
from seqlab.nn.transformer import Transformer
from seqlab.translation.config import MTModel


def build_translator(cfg: MTModel, src_vocab: int, tgt_vocab: int, max_positions: int = 1024) -> EncoderDecoder:
    """Construct the model named by ``cfg.arch`` with the sizes it reads from ``cfg``."""
    match cfg.arch:
        case "seq2seq":
            return Seq2Seq(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.layers, cfg.dropout,
                           cfg.reverse_source, cfg.cell)
        case "bahdanau":
            return Bahdanau(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.hidden, cfg.layers,
                            cfg.layers, cfg.dropout, cfg.cell)
        case "luong":
            return Luong(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.layers, cfg.score,
                         cfg.attention, cfg.half_width, cfg.input_feed, cfg.dropout, cfg.cell)
        case "transformer":
            return Transformer(src_vocab, tgt_vocab, cfg.hidden, cfg.heads, cfg.ff, cfg.layers, cfg.layers,
                               cfg.dropout, cfg.pre_norm, cfg.tie_embeddings)
        case "convs2s":
            return ConvS2S(src_vocab, tgt_vocab, cfg.embed_dim, cfg.hidden, cfg.layers, cfg.layers,
                           cfg.kernel, cfg.dropout, max_positions)
    raise AssertionError(f"unreachable: arch {cfg.arch!r} passed validation")
