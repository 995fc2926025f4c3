"""A tiny attention encoder-decoder in NumPy, with its backward pass: the Bahdanau drill's model.

    encoder:   bidirectional GRU over one-hot source tokens, h_j = [h->_j ; h<-_j]   (B, S, 2H)
    decoder:   GRU over one-hot [BOS, y_1, ..., y_{U-1}] from a zero state, s_i   (B, U, H)
    attention: additive, alpha_i = softmax_j(v^T tanh(W1 h_j + W2 s_i)),
               c_i = sum_j alpha_ij h_j                                            (B, U, 2H)
    output:    logits_i = W_o [s_i ; c_i] + b_o                                    (B, U, V)

Deviation from Bahdanau et al. (2015), stated out loud: the query is the current decoder
state s_i (attention after the recurrent step, as Luong et al. order it), and the decoder
starts from zero, so the only way source information reaches the output is through the
context c_i: the attention weights must do the work.
"""

from __future__ import annotations

import numpy as np

from seqlab.reference import attention
from seqlab.reference.recurrent import Recurrent


def one_hot(tokens: np.ndarray, size: int) -> np.ndarray:
    """(B, T) int -> (B, T, size) float64."""
    return np.eye(size)[tokens]


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy over (B, U) and its gradient dL/dlogits (B, U, V)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)  # softmax, (B, U, V)
    n = targets.size
    picked = np.take_along_axis(prob, targets[..., None], axis=-1)[..., 0]  # (B, U)
    dlogits = prob.copy()
    np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(
        dlogits, targets[..., None], axis=-1) - 1.0, axis=-1)  # dL/dz = (p - onehot(y)) / n
    return float(-np.log(picked).mean()), dlogits / n


class TinySeq2Seq:
    """Bidirectional-GRU encoder, GRU decoder, additive attention; explicit backward."""

    def __init__(self, vocab: int, hidden: int, attn: int, seed: int = 0):
        self.vocab, self.hidden = vocab, hidden
        self.fwd = Recurrent("gru", vocab, hidden, seed=seed)
        self.bwd = Recurrent("gru", vocab, hidden, seed=seed + 1)
        self.dec = Recurrent("gru", vocab + 1, hidden, seed=seed + 2)  # token id `vocab` = BOS
        rng = np.random.default_rng(seed + 3)
        self.attn = attention.init_params(2 * hidden, hidden, attn, rng)
        bound = 1.0 / np.sqrt(3 * hidden)
        self.out = {"W": rng.uniform(-bound, bound, size=(vocab, 3 * hidden)),
                    "b": np.zeros(vocab)}

    def parameters(self) -> list[dict[str, np.ndarray]]:
        """Every parameter dict, in the order ``backward`` returns gradients."""
        return [self.fwd.params[0], self.bwd.params[0], self.dec.params[0], self.attn, self.out]

    def decoder_inputs(self, targets: np.ndarray) -> np.ndarray:
        """Teacher forcing: [BOS, y_1, ..., y_{U-1}], (B, U)."""
        bos = np.full((targets.shape[0], 1), self.vocab)
        return np.concatenate([bos, targets[:, :-1]], axis=1)

    def forward(self, src: np.ndarray, targets: np.ndarray):
        """src (B, S), targets (B, U) ints -> logits (B, U, V), weights (B, U, S), cache."""
        x = one_hot(src, self.vocab)  # (B, S, V)
        hf, _, cf = self.fwd.forward(x)  # left to right, (B, S, H)
        hb_rev, _, cb = self.bwd.forward(x[:, ::-1])  # right to left, (B, S, H)
        h = np.concatenate([hf, hb_rev[:, ::-1]], axis=-1)  # h_j = [h->_j ; h<-_j], (B, S, 2H)
        s, _, cd = self.dec.forward(one_hot(self.decoder_inputs(targets), self.vocab + 1))
        steps = [attention.forward(h, s[:, i], self.attn) for i in range(s.shape[1])]
        ctx = np.stack([c for c, _, _ in steps], axis=1)  # c_i, (B, U, 2H)
        alphas = np.stack([a for _, a, _ in steps], axis=1)  # alpha_ij, (B, U, S)
        z = np.concatenate([s, ctx], axis=-1)  # [s_i ; c_i], (B, U, 3H)
        logits = z @ self.out["W"].T + self.out["b"]  # (B, U, V)
        return logits, alphas, (cf, cb, cd, h, [c for _, _, c in steps], z)

    def backward(self, dlogits: np.ndarray, cache) -> list[dict[str, np.ndarray]]:
        """Gradients for ``parameters()`` given dL/dlogits (B, U, V)."""
        cf, cb, cd, h, attn_caches, z = cache
        H = self.hidden
        g_out = {"W": np.einsum("buv,buk->vk", dlogits, z),  # dL/dW_o = sum dlogits^T z
                 "b": dlogits.sum(axis=(0, 1))}  # dL/db_o = sum dlogits
        dz = dlogits @ self.out["W"]  # dL/dz = dlogits W_o, (B, U, 3H)
        ds, dctx = dz[..., :H].copy(), dz[..., H:]  # split [s_i ; c_i]
        dh = np.zeros_like(h)  # dL/dh_j summed over decoder steps, (B, S, 2H)
        g_attn = {k: np.zeros_like(v) for k, v in self.attn.items()}
        for i, ca in enumerate(attn_caches):
            dh_i, ds_i, g = attention.backward(dctx[:, i], ca, self.attn)
            dh += dh_i  # every step attends over the same h
            ds[:, i] += ds_i  # s_i is both output feature and query
            for k in g_attn:
                g_attn[k] += g[k]
        _, _, g_dec = self.dec.backward(cd, ds)  # BPTT through the decoder
        _, _, g_fwd = self.fwd.backward(cf, dh[..., :H])  # forward half of h_j
        _, _, g_bwd = self.bwd.backward(cb, dh[..., H:][:, ::-1])  # backward half, re-reversed
        return [g_fwd[0], g_bwd[0], g_dec[0], g_attn, g_out]
