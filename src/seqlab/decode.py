"""Greedy and batched beam search for any ``seqlab.nn.seq2seq.EncoderDecoder``.

Both reuse the model's incremental state: each step feeds one token per hypothesis to
``decode_step``, so a step costs O(1) in the prefix length for the RNN models and reads
the key/value cache for the Transformer. Beam search keeps B * K hypotheses in one
batch and reorders the state with ``reorder_state`` after every step.

Finished hypotheses are ranked by the GNMT length-normalized score (Wu et al. 2016,
Eq. 14): s(Y) = log P(Y | X) / lp(Y), lp(Y) = (5 + |Y|)^alpha / (5 + 1)^alpha, where
|Y| counts the generated tokens including EOS. Each source of length |X| may produce at
most ``int(max_len_ratio * |X|) + max_len_offset`` tokens before it is cut.

Memory grows with the hypotheses decoded together (sources x beam): the beam is at most
``MAX_BEAM`` and callers decode at most ``MAX_HYPOTHESES`` at once (``hypotheses_batch``);
a model with a position table (ConvS2S's ``max_positions``) never decodes past it.

The start symbol and the padding symbol are never generated: their log-probabilities are
set to -inf at every step (``banned_logp``), so no hypothesis contains BOS or PAD however
little the model has learned. Scores stay the model's own log-probabilities of the
tokens chosen (no renormalization over the remaining vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_BEAM = 64  # wider beams buy nothing measurable (Koehn & Knowles 2017: BLEU falls past ~10-30)
MAX_HYPOTHESES = 2048  # sources x beam decoded together: the state of each is held at once
MAX_LEN_RATIO = 10.0  # output tokens per source token (a recipe's task.max_len_ratio has the same bound)


def hypotheses_batch(batch_size: int, beam: int) -> int:
    """Sources per decoding batch: ``batch_size``, lowered so that sources x beam <= MAX_HYPOTHESES."""
    return max(1, min(batch_size, MAX_HYPOTHESES // beam))


def check_beam(beam: int, n_best: int = 1, alpha: float = 0.0) -> None:
    """1 <= n_best <= beam <= MAX_BEAM and a finite alpha >= 0, else ValueError."""
    if not 0.0 <= alpha < float("inf"):
        raise ValueError(f"alpha={alpha} must be a finite number >= 0")
    if not 1 <= beam <= MAX_BEAM:
        raise ValueError(f"beam={beam} must be between 1 and {MAX_BEAM}")
    if not 1 <= n_best <= beam:
        raise ValueError(f"n_best={n_best} must be between 1 and beam={beam}")


@dataclass(frozen=True)
class Hypothesis:
    """One output: tokens without BOS/EOS, normalized score, raw log-probability, and
    the attention rows of its tokens, (T, S) or (heads, T, S), or None."""

    tokens: list[int]
    score: float
    log_prob: float
    attention: torch.Tensor | None = None


def length_penalty(length: int, alpha: float) -> float:
    """GNMT lp(Y) = ((5 + |Y|) / 6)^alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def max_lengths(src_mask: torch.Tensor, ratio: float, offset: int, model=None) -> list[int]:
    """Per-source output budget: int(ratio * |X|) + offset, at least 1, and (for a model with a
    position table of ``max_positions``) at most the ``max_positions - 1`` target positions after BOS."""
    if not (0 <= ratio <= MAX_LEN_RATIO and offset >= 0):
        raise ValueError(f"max_len_ratio={ratio} must be in [0, {MAX_LEN_RATIO:g}] and max_len_offset={offset} >= 0")
    cap = getattr(model, "max_positions", None)
    cap = max(1, cap - 1) if isinstance(cap, int) else None
    return [min(max(1, int(ratio * n) + offset), cap or float("inf")) for n in src_mask.sum(1).tolist()]


def banned_logp(logp: torch.Tensor, bos: int, pad: int | None) -> torch.Tensor:
    """logp (..., V) with the BOS and PAD columns set to -inf: tokens that may never be emitted."""
    banned = [bos] if pad is None or pad == bos else [bos, pad]
    return logp.index_fill(-1, torch.tensor(banned, device=logp.device), float("-inf"))


def _rows(attn: list[torch.Tensor], b: int, length: int, src_len: int) -> torch.Tensor | None:
    """Stack the first ``length`` steps of row b: (T, [H,] S) -> ([H,] T, S), real source only."""
    if not attn or attn[0] is None or length == 0:
        return None
    rows = torch.stack([a[b] for a in attn[:length]], dim=-2)  # ([H,] T, S)
    return rows[..., :src_len].detach().cpu()


@torch.no_grad()
def greedy(model, src, src_mask, bos: int, eos: int, max_len_ratio: float = 2.0,
           max_len_offset: int = 5, need_weights: bool = False, *, pad: int | None = 0) -> list[Hypothesis]:
    """Pick the most probable token at every step, for a batch of sources.

    Args:
        model: an EncoderDecoder.  src (B, S) long, src_mask (B, S) bool.
        bos, eos: special token ids.  need_weights: keep the attention rows.
        pad: the padding id (None: no padding symbol); neither it nor BOS is ever emitted.
    Returns: one Hypothesis per source (score = log_prob: no length penalty).
    """
    limits = max_lengths(src_mask, max_len_ratio, max_len_offset, model)
    memory = model.encode(src, src_mask)
    state = model.init_state(memory)
    b = src.size(0)
    prev = torch.full((b,), bos, dtype=torch.long, device=src.device)
    steps, attns, logps = [], [], []
    ends: list[tuple[int, int] | None] = [None] * b  # (tokens kept, tokens emitted incl. EOS)
    for t in range(max(limits)):
        logits, state, attn = model.decode_step(prev, state, memory, need_weights)
        logp = banned_logp(torch.log_softmax(logits.float(), -1), bos, pad)  # (B, V)
        prev = logp.argmax(-1)  # (B,)
        steps.append(prev)
        logps.append(logp.gather(1, prev.unsqueeze(1)).squeeze(1))  # (B,)
        attns.append(attn if need_weights else None)  # None for Seq2Seq
        for i, tok in enumerate(prev.tolist()):
            if ends[i] is None and tok == eos:
                ends[i] = (t, t + 1)
            elif ends[i] is None and t + 1 == limits[i]:
                ends[i] = (t + 1, t + 1)
        if all(e is not None for e in ends):
            break
    tokens = torch.stack(steps, 1).tolist()  # (B, T)
    logp_sum = torch.stack(logps, 1).cumsum(1)  # (B, T)
    src_lens = src_mask.sum(1).tolist()
    out = []
    for i, (kept, emitted) in enumerate(ends):
        lp = logp_sum[i, emitted - 1].item()
        out.append(Hypothesis(tokens[i][:kept], lp, lp, _rows(attns, i, kept, src_lens[i])))
    return out


@torch.no_grad()
def beam_search(model, src, src_mask, bos: int, eos: int, beam: int = 5, alpha: float = 0.6,
                max_len_ratio: float = 2.0, max_len_offset: int = 5, n_best: int = 1,
                need_weights: bool = False, *, pad: int | None = 0) -> list[list[Hypothesis]]:
    """Batched beam search: B sources x K hypotheses decoded together.

    At each step every source's 2K best extensions are ranked; an EOS among the top K
    ends a hypothesis (so does reaching the length budget), the best K others survive.
    A source is done once K hypotheses have ended; its ``n_best`` best by normalized
    score are returned. Args as in ``greedy`` (BOS and ``pad`` are never emitted), plus
    beam K, GNMT alpha and n_best <= K.
    Returns: per source, a list of n_best Hypothesis, best first.
    """
    check_beam(beam, n_best, alpha)
    b, k, dev = src.size(0), beam, src.device
    memory = model.encode(src, src_mask).index_select(torch.arange(b, device=dev).repeat_interleave(k))
    state = model.init_state(memory)
    search = _Search(b, k, eos, alpha, max_lengths(src_mask, max_len_ratio, max_len_offset, model),
                     src_mask.sum(1).tolist())
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # the K copies start identical: keep one alive
    prefix = torch.full((b * k, 0), bos, dtype=torch.long, device=dev)  # (B*K, t)
    prev = torch.full((b * k,), bos, dtype=torch.long, device=dev)
    attn_hist: list[torch.Tensor] = []  # per step (B*K, [H,] S), rows follow the current beams
    for t in range(max(search.limits)):
        logits, state, attn = model.decode_step(prev, state, memory, need_weights)
        logp = banned_logp(torch.log_softmax(logits.float(), -1), bos, pad)  # (B*K, V)
        v = logp.size(-1)
        cand = (scores.unsqueeze(-1) + logp.view(b, k, v)).view(b, k * v)  # (B, K*V)
        top, idx = cand.topk(min(2 * k, k * v), dim=1)  # (B, 2K)
        attn_hist = attn_hist + [attn] if need_weights and attn is not None else attn_hist
        parents, toks, new_scores = search.step(t, top.tolist(), (idx // v).tolist(), (idx % v).tolist(),
                                                prefix, attn_hist)
        if search.all_done():
            break
        flat = (torch.arange(b, device=dev).unsqueeze(1) * k + torch.tensor(parents, device=dev)).view(-1)
        prev = torch.tensor(toks, device=dev).view(-1)  # (B*K,)
        scores = torch.tensor(new_scores, device=dev)  # (B, K)
        prefix = torch.cat([prefix.index_select(0, flat), prev.unsqueeze(1)], 1)  # (B*K, t+1)
        attn_hist = [a.index_select(0, flat) for a in attn_hist]
        state = model.reorder_state(state, flat)
    return [sorted(f, key=lambda h: -h.score)[:n_best] for f in search.finished]


class _Search:
    """Book-keeping of beam search: which hypotheses ended, which K survive."""

    def __init__(self, batch: int, k: int, eos: int, alpha: float, limits: list[int], src_lens: list[int]):
        self.k, self.eos, self.alpha, self.limits, self.src_lens = k, eos, alpha, limits, src_lens
        self.finished: list[list[Hypothesis]] = [[] for _ in range(batch)]

    def all_done(self) -> bool:
        return all(len(f) >= self.k for f in self.finished)

    def _end(self, i: int, row: int, tok: int, t: int, score: float, prefix, attn_hist) -> None:
        kept = t if tok == self.eos else t + 1  # tokens kept, EOS excluded
        tokens = prefix[row].tolist() + ([] if tok == self.eos else [tok])  # prefix (B*K, t)
        attention = _rows(attn_hist, row, kept, self.src_lens[i])
        self.finished[i].append(Hypothesis(tokens, score / length_penalty(t + 1, self.alpha), score, attention))

    def step(self, t, top, parent_of, tok_of, prefix, attn_hist):
        """Returns, per source, the K survivors' parent beam, token and score."""
        parents, toks, scores = [], [], []
        for i in range(len(top)):
            keep: list[tuple[int, int, float]] = []
            for rank, (s, j, tok) in enumerate(zip(top[i], parent_of[i], tok_of[i])):
                if len(self.finished[i]) >= self.k or len(keep) == self.k:
                    break
                ended = tok == self.eos or t + 1 == self.limits[i]
                if ended and rank < self.k and s > float("-inf"):
                    self._end(i, i * self.k + j, tok, t, s, prefix, attn_hist)
                elif not ended:
                    keep.append((j, tok, s))
            keep += [(0, self.eos, float("-inf"))] * (self.k - len(keep))  # a done source idles
            parents.append([p for p, _, _ in keep])
            toks.append([tok for _, tok, _ in keep])
            scores.append([s for _, _, s in keep])
        return parents, toks, scores
