"""Estimated floating-point operations of a unit: what sizes the full profile.

Counts are of the matrix products, which dominate every model here (a multiply-add
is 2 FLOPs; element-wise gate arithmetic, softmax and embedding look-ups are left
out). Per token and layer, the forward pass of

    a recurrent layer      2 * g * H * (I + H)       g = 1 (RNN), 3 (GRU), 4 (LSTM) gate blocks
    a minGRU / minLSTM     2 * g * H * I             g = 2 / 3 blocks, read from x_t only
    a Transformer layer    2 * (4 d^2 + 2 d f) + 4 n d    projections, feed-forward, n keys scored
    a linear head          2 * H * O

and training costs 3x the forward pass (the backward pass ~2x: gradients of the
inputs and of the weights), the usual estimate (Kaplan et al. 2020, Sec. 2.1).
These are estimates for planning (which units fit a budget), not measurements.
"""

from __future__ import annotations

TRAIN = 3  # a training step costs ~3x its forward pass
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "rnn": 1, "gru": 3, "lstm": 4}
SCAN_GATES = {"mingru": 2, "minlstm": 3}


def recurrent(arch: str, inputs: int, hidden: int, layers: int = 1, directions: int = 1) -> float:
    """Forward FLOPs per token of a recurrent stack (``arch`` as in ``seqlab.build.ARCHS``)."""
    total, width = 0.0, inputs
    for _ in range(layers):
        if arch in SCAN_GATES:
            total += 2 * SCAN_GATES[arch] * hidden * width
        else:
            total += directions * 2 * GATES[arch] * hidden * (width + hidden)
        width = directions * hidden
    return total


def transformer(d: int, layers: int, context: int, ff: int | None = None) -> float:
    """Forward FLOPs per token of ``layers`` Transformer layers attending over ``context`` keys."""
    ff = 4 * d if ff is None else ff
    return layers * (2 * (4 * d * d + 2 * d * ff) + 4 * context * d)


def head(hidden: int, outputs: int) -> float:
    """Forward FLOPs per scored token of a linear output layer."""
    return 2.0 * hidden * outputs


def task_model(arch: str, inputs: int, hidden: int, outputs: int, length: int, layers: int = 1,
               directions: int = 1) -> float:
    """Forward FLOPs per token of a ``seqlab.build`` task model (a backbone and a per-step head)."""
    if arch == "transformer":
        body = transformer(hidden, layers, length) + 2 * inputs * hidden
    else:
        body = recurrent(arch, inputs, hidden, layers, directions)
    return body + head(directions * hidden, outputs)


def training(forward_per_token: float, tokens_per_step: float, steps: int) -> float:
    """FLOPs of ``steps`` training updates of ``tokens_per_step`` tokens each."""
    return TRAIN * forward_per_token * tokens_per_step * steps


def translator(spec: dict, src_vocab: int, tgt_vocab: int, source: int) -> float:
    """Forward FLOPs per target token of an encoder-decoder spec (``seqlab.build.build_translator``'s
    keys: arch, cell, embed_dim, hidden, layers), the encoder counted per source token of a pair of
    equal lengths, attention over ``source`` keys."""
    arch, hidden, embed = spec["arch"], spec["hidden"], spec["embed_dim"]
    layers = spec.get("layers", 1)
    if arch == "transformer":
        return 2 * transformer(hidden, layers, source) + head(hidden, tgt_vocab)
    cell = spec.get("cell", "lstm")
    encoder = recurrent(cell, embed, hidden, layers, 2 if arch == "bahdanau" else 1)
    context = 2 * hidden if arch == "bahdanau" else hidden
    decoder = recurrent(cell, embed + (context if arch != "seq2seq" else 0), hidden, layers)
    attention = 0.0 if arch == "seq2seq" else 4.0 * source * context + 2 * context * hidden
    return encoder + decoder + attention + head(hidden + (context if arch != "seq2seq" else 0), tgt_vocab)


def synthetic_translation(spec: dict, vocab: int, min_len: int, max_len: int, batch: int, steps: int) -> float:
    """Training FLOPs of a translator on ``seqlab.data.transduction`` (sources and targets of the mean length)."""
    T = (min_len + max_len) / 2
    return training(translator(spec, vocab, vocab, int(T)), 2 * batch * T, steps)


def corpus_translation(spec: dict, data: dict, steps: int, max_tokens: int) -> float:
    """Training FLOPs of ``steps`` updates of ``max_tokens`` padded target tokens (sources as long) on a
    corpus (``data``: the recipe's data keys: corpus, src_vocab, tgt_vocab)."""
    source = 40 if data["corpus"] == "numbers" else 30  # typical padded source length of a batch
    return training(translator(spec, data["src_vocab"], data["tgt_vocab"], source), max_tokens, steps)
