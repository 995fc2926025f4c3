"""C18: a static embedding merges a word's senses into one vector; a contextual one separates them.

Design. Six ambiguous words of the English BSB (well, left, lie, bow, rest, lot), each
with two clear senses (e.g. "well": a well for water / the adverb), have hand-labelled
occurrences in ``seqlab/embeddings/senses.tsv`` (12-14 per sense, only unambiguous
ones, each named by its verse key and word position and checked against the text).

Vectors of one occurrence:

- static: the word type's row of the language model's input embedding table (forward
  and backward tables side by side), one vector per word whatever the verse, as in
  word2vec or GloVe;
- contextual: the hidden states of a bidirectional LSTM language model (ELMo-style,
  :class:`seqlab.embeddings.BiLM`) at the occurrence, [h_fwd ; h_bwd] (2H), centered on
  the mean token vector of the labelled verses (the direction every state shares).

Sense separation of a word. For each occurrence i with unit vector u_i:
    d_i = mean_{j != i, same sense} cos(u_i, u_j) - mean_{j, other sense} cos(u_i, u_j)
and the word's separation S = mean_i d_i: > 0 when occurrences of one sense sit closer
to each other than to the other sense. A static vector has S = 0 by construction
(every cosine is 1). A 95% percentile bootstrap interval of the mean of the d_i
(:func:`rules.bootstrap_interval`) says whether S > 0 is more than the choice of
occurrences (approximate: the d_i share pairs, so they are not independent).

Rule (fixed before the run): a word *separates* in a seed when the interval lies above
0. Confirmed when at least ``min_words`` of the 6 words separate in every seed; refuted
when at most ``max_words_refuted`` words separate in every seed (the contextual vectors
split the senses no better than the static one). Gate: the LM is competent, i.e. its
held-out next-word loss is at most ``competent`` times the unigram model's, in both
directions and every seed (an LM that ignores its context cannot speak to the claim).
No convergence gate: the claim is about a competent contextual encoder, not a
trained-out one. For reference (not in the rule) the table also gives S of the same
BiLM at its initialisation (an untrained recurrent state already depends on context).

Paired seeds: seed s sets the LM's initial weights (training batches are the same
contiguous chunks for every seed). Both LMs train on the train split only; the labelled
occurrences come from every split (most are in train). The trained BiLMs are cached on
disk by their settings (``$SEQLAB_CACHE/embeddings``), so only a first run trains them.

Time (quick, one thread): about 37 s of CPU where the BiLMs are not cached yet (parsing bsb_en
~6 s, training 3 seeds x 2 directions ~25 s), about 12 s where they are (measured as CPU
time on a 2-core machine under load ~7, where the wall times were 105 s and 33 s).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F

from seqlab.config import to_dict
from seqlab.data.batching import pad_sequences
from seqlab.data.corpora import SPLITS, load_corpus
from seqlab.data.tokenize import EOS
from seqlab.embeddings.contextual import BiLM, train_bilm
from seqlab.embeddings.words import WordVocab, words
from seqlab.errors import SeqlabError
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C18"
CLAIM = ("A static word embedding (word2vec, GloVe) gives a word one vector whatever the sentence, so its senses "
         "share that vector; a contextual encoder such as a bidirectional LSTM gives each occurrence its own "
         "vector, and occurrences of the same sense end up closer to each other than to the other sense.")
SENSES = "senses.tsv"  # package data of seqlab.embeddings
CONTEXT_SPAN = 5  # words either side in the data file's context column


@dataclass(frozen=True)
class Config:
    embed_dim: int = 32
    hidden: int = 64  # per direction; contextual vectors are 2 * hidden wide
    steps: int = 150  # optimizer steps per direction
    batch_size: int = 32
    chunk_len: int = 35
    lr: float = 3e-2
    max_vocab: int = 300  # most frequent train words, plus the labelled words; the rest are <unk>
    min_count: int = 3
    dev_verses: int = 400  # evenly spaced dev verses scored for the competence gate
    competent: float = 0.9  # gate: LM dev loss <= 0.9 x the unigram dev loss
    level: float = 0.95  # bootstrap interval
    min_words: int = 5  # confirmed: >= 5 of the 6 words separate in every seed
    max_words_refuted: int = 1  # refuted: <= 1 word separates in every seed
    device: str = "auto"


PROFILES = {
    # quick: 150 steps of 32 x 35 tokens per direction and seed, a 306-word vocabulary (27% of dev tokens are
    # <unk>) so that three seeds train in ~25 s on one CPU thread
    "quick": Config(),
    # full: sized for a GPU (5 seeds x 2 directions x 2,000 steps of a 256-unit LSTM over an 8,000-word
    # softmax, a few minutes on one H200; not run yet); hours on a CPU
    "full": Config(embed_dim=128, hidden=256, steps=2000, batch_size=64, lr=5e-3, max_vocab=8000,
                   dev_verses=1600),
}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice): an LM this small
# fails the competence gate, so TINY ends inconclusive
TINY = Config(embed_dim=8, hidden=8, steps=4, max_vocab=50, dev_verses=20)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


@dataclass(frozen=True)
class Labelled:
    """One hand-labelled occurrence: ``words(verse text)[position] == word``, read as ``sense``."""

    word: str
    sense: str
    verse: str  # BSB verse key BBCCCVVV
    ref: str  # the same verse as "Book chapter:verse", for a reader
    position: int
    context: str  # the words around it, the labelled one in [brackets]


def read_senses(text: str | None = None) -> list[Labelled]:
    """The labelled occurrences (the package's senses.tsv unless ``text`` is given); '#' lines are comments."""
    if text is None:
        text = resources.files("seqlab.embeddings").joinpath(SENSES).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [Labelled(r["word"], r["sense"], r["verse"], r["ref"], int(r["position"]), r["context"])
            for r in csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)]


def context_of(ws: list[str], i: int, span: int = CONTEXT_SPAN) -> str:
    """Words i-span .. i+span with word i in [brackets]: the data file's context column."""
    return " ".join(ws[max(0, i - span): i] + [f"[{ws[i]}]"] + ws[i + 1: i + 1 + span])


def label_problems(labels: list[Labelled], verses: dict[str, list[str]]) -> list[str]:
    """Why a label does not point at its word (empty when every one does): unknown verse, another word at
    the position, a context that is not the text's, or a word without exactly two senses of >= 2 each."""
    out = []
    for lab in labels:
        ws = verses.get(lab.verse)
        if ws is None:
            out.append(f"{lab.ref} ({lab.verse}): no such verse")
        elif not 0 <= lab.position < len(ws) or ws[lab.position] != lab.word:
            out.append(f"{lab.ref}: word {lab.position} is not '{lab.word}'")
        elif context_of(ws, lab.position) != lab.context:
            out.append(f"{lab.ref}: context '{lab.context}' is not the text's '{context_of(ws, lab.position)}'")
    for word in dict.fromkeys(lab.word for lab in labels):
        senses = [lab.sense for lab in labels if lab.word == word]
        if len(set(senses)) != 2 or min(senses.count(s) for s in set(senses)) < 2:
            out.append(f"'{word}' needs two senses with >= 2 occurrences each")
    return out


def separation(vecs: np.ndarray, senses: list[str]) -> tuple[float, np.ndarray]:
    """Sense separation of one word's occurrence vectors (N, D) with their sense labels.

    d_i = mean cos to the other occurrences of its sense - mean cos to the other sense's;
    returns (S = mean_i d_i, d (N,)).
    """
    u = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)  # (N, D) unit rows
    cos = u @ u.T  # (N, N)
    lab = np.asarray(senses)
    same = lab[:, None] == lab[None, :]  # (N, N)
    mates = same & ~np.eye(len(lab), dtype=bool)  # same sense, not itself
    within = (cos * mates).sum(1) / mates.sum(1)  # (N,)
    between = (cos * ~same).sum(1) / (~same).sum(1)  # (N,)
    d = within - between
    return float(d.mean()), d


@torch.no_grad()
def dev_loss(lm, verses: list[list[int]], batch: int = 128) -> float:
    """Mean next-word cross-entropy (nats) of one direction's LM over verses read from EOS, as in training:
    input [EOS, w_1..w_n], targets [w_1..w_n, EOS]."""
    device = next(lm.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(verses), batch):
        chunk = verses[i: i + batch]
        x, mask, lengths = pad_sequences([[EOS, *v] for v in chunk])  # (B, T)
        y, _, _ = pad_sequences([[*v, EOS] for v in chunk])  # (B, T)
        logits, _ = lm(x.to(device), lengths=lengths)  # (B, T, V)
        ce = F.cross_entropy(logits.transpose(1, 2), y.to(device), reduction="none").cpu()  # (B, T)
        total, count = total + float(ce[mask].sum()), count + int(mask.sum())
    return total / count


def unigram_loss(train_ids: list[int], verses: list[list[int]], vocab_size: int) -> float:
    """Cross-entropy (nats) on the same targets of a unigram model fitted on the train stream (add-one)."""
    counts = np.bincount(np.asarray(train_ids), minlength=vocab_size) + 1.0  # (V,)
    logp = np.log(counts / counts.sum())
    targets = np.asarray([t for v in verses for t in (*v, EOS)])
    return float(-logp[targets].mean())


def measure(bilm: BiLM, vocab: WordVocab, labels: list[Labelled], verses: dict[str, list[str]]):
    """Per word: (static S, contextual S, contextual d_i (N,)) for ``bilm``'s vectors of the labelled occurrences."""
    keys = list(dict.fromkeys(lab.verse for lab in labels))
    encoded = dict(zip(keys, bilm.encode([[vocab.id(w) for w in verses[k]] for k in keys])))  # (n_k, 2H) each
    center = torch.cat(list(encoded.values())).mean(0)  # (2H,): the labelled verses' mean token vector
    table = torch.cat([bilm.fwd.inp.weight, bilm.bwd.inp.weight], dim=1).detach()  # (V, 2E): static vectors
    out = {}
    for word in dict.fromkeys(lab.word for lab in labels):
        mine = [lab for lab in labels if lab.word == word]
        senses = [lab.sense for lab in mine]
        ctx = torch.stack([encoded[lab.verse][lab.position] - center for lab in mine]).numpy()  # (N, 2H)
        static = table[[vocab.id(word)] * len(mine)].numpy()  # (N, 2E): one row, repeated
        s_ctx, d = separation(ctx.astype(np.float64), senses)
        out[word] = (separation(static.astype(np.float64), senses)[0], s_ctx, d)
    return out


def vocabulary(train: list[list[str]], labels: list[Labelled], cfg: Config) -> WordVocab:
    """The ``max_vocab`` most frequent train words (>= ``min_count``), plus any labelled word not among them."""
    top = WordVocab.build(train, cfg.min_count, cfg.max_vocab)
    return WordVocab(top.words + [w for w in dict.fromkeys(lab.word for lab in labels) if w not in top.index])


RULE = ("competent", "level", "min_words", "max_words_refuted")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per seed: the BiLM (both directions) trained, its vectors of the labelled occurrences measured."""
    cfg = PROFILES[check_profile(profile)]
    per_token = 2 * flops.task_model("lstm", cfg.embed_dim, cfg.hidden, cfg.max_vocab, cfg.chunk_len)
    return [Unit(f"s{seed}", "train_seed", {"cfg": settings(cfg, RULE), "seed": seed}, seed=seed,
                 flops=flops.training(per_token, cfg.batch_size * cfg.chunk_len, cfg.steps))
            for seed in rules.seeds(profile)]


def train_seed(cfg: dict, seed: int) -> dict:
    """One seed's BiLM: its dev losses against the unigram's, and per word (static S, contextual S, d_i) of
    the trained and of the untrained BiLM; with the table of labelled occurrences (the same for every seed)."""
    cfg = config_of(Config, cfg)
    corpus = load_corpus("bsb_en")
    by_split = {s: [(k, words(t)) for k, t in corpus.splits[s]] for s in SPLITS}
    verses = {k: ws for s in SPLITS for k, ws in by_split[s]}
    split_of = {k: s for s in SPLITS for k, _ in by_split[s]}
    labels = read_senses()
    problems = label_problems(labels, verses)
    train = [ws for _, ws in by_split["train"]]
    dev = [ws for _, ws in by_split["dev"]]
    if problems:
        raise SeqlabError("senses.tsv: " + "; ".join(problems))
    vocab = vocabulary(train, labels, cfg)
    scored = [[vocab.id(w) for w in v] for v in dev[:: max(len(dev) // cfg.dev_verses, 1)][: cfg.dev_verses]]
    unigram = unigram_loss(vocab.stream(train), scored, len(vocab))
    bilm = train_bilm(vocab, train, dev, cfg.embed_dim, cfg.hidden, cfg.steps, cfg.batch_size, cfg.chunk_len,
                      cfg.lr, seed=seed, device=cfg.device)
    fwd, bwd = dev_loss(bilm.fwd, scored), dev_loss(bilm.bwd, [v[::-1] for v in scored])
    torch.manual_seed(seed)  # train_bilm's initialisation of this seed, untrained
    untrained = BiLM(len(vocab), cfg.embed_dim, cfg.hidden).eval()
    found = {"trained": measure(bilm, vocab, labels, verses), "untrained": measure(untrained, vocab, labels, verses)}
    occurrences = [[w, s, len(group), sum(split_of[x.verse] == "train" for x in group),
                    sum(split_of[x.verse] != "train" for x in group), f"{group[0].ref}: {group[0].context}"]
                   for (w, s), group in _groups(labels).items()]
    return {"fwd": fwd, "bwd": bwd, "unigram": unigram, "scored": len(scored), "occurrences": occurrences,
            **{k: {w: [st, sc, d.tolist()] for w, (st, sc, d) in per.items()} for k, per in found.items()}}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"bsb_en. Hand-labelled occurrences of 6 ambiguous words, two senses each ({SENSES}). Contextual: forward + "
        f"backward word LSTM LMs (embed {cfg.embed_dim}, hidden {cfg.hidden} each, {cfg.steps} steps of "
        f"{cfg.batch_size}x{cfg.chunk_len} tokens per direction; vocabulary: the {cfg.max_vocab} most frequent "
        f"train words plus the labelled ones) trained on the train split; an occurrence's vector is both "
        f"directions' states there, centered. Static: the LMs' input embedding rows (one per word). Seeds "
        f"{list(seeds)}."), profile, config(profile), seeds=seeds)
    found, lm_rows, ratios = {}, [], []
    for seed in seeds:
        r = results[f"s{seed}"]
        fwd, bwd, unigram = r["fwd"], r["bwd"], r["unigram"]
        ratios += [fwd / unigram, bwd / unigram]
        lm_rows.append([seed, fwd, bwd, unigram, max(fwd, bwd) / unigram])
        found[seed] = {"trained": r["trained"], "untrained": r["untrained"]}
    sep = {seed: {w: (static, s, *rules.bootstrap_interval(d, cfg.level, seed=seed))
                  for w, (static, s, d) in per["trained"].items()} for seed, per in found.items()}
    result.add_table("sense separation S = mean(within-sense cos - between-sense cos) per word and seed", [
        "seed", "word", "static S", "contextual S", "interval low", "interval high", "separates",
        "untrained BiLM S (reference)"],
        [[seed, w, round(st, 9) + 0.0, s, lo, hi, "yes" if lo > 0 else "no", found[seed]["untrained"][w][1]]
         for seed, per in sep.items() for w, (st, s, lo, hi) in per.items()])
    result.add_table("language models: held-out next-word loss (nats) on "
                     f"{results[f's{seeds[0]}']['scored']} dev verses",
                     ["seed", "forward", "backward", "unigram", "worse / unigram"], lm_rows)
    result.add_table("labelled occurrences", ["word", "sense", "occurrences", "in train", "in dev or test",
                                              "example"], results[f"s{seeds[0]}"]["occurrences"])
    gain = {w: float(np.median([sep[s][w][1] - found[s]["untrained"][w][1] for s in seeds])) for w in sep[seeds[0]]}
    result.notes.append("Trained minus untrained S (the same seed's BiLM before training), median over seeds: "
                        + ", ".join(f"{w} {g:+.2f}" for w, g in gain.items()) + ". An untrained recurrent state "
                        "already depends on the words around it, so part of the separation needs no training; "
                        + ("training added little (< 0.02) for: " + ", ".join(w for w, g in gain.items() if g < 0.02)
                           if any(g < 0.02 for g in gain.values()) else "training added to it for every word") + ".")
    gates = [rules.at_most(f"competent LM: held-out loss / unigram loss, worst of {len(seeds)} seeds x 2 directions",
                           max(ratios), cfg.competent)]
    return _verdict(result, sep, gates, cfg)


def _groups(labels: list[Labelled]) -> dict[tuple[str, str], list[Labelled]]:
    out: dict[tuple[str, str], list[Labelled]] = {}
    for lab in labels:
        out.setdefault((lab.word, lab.sense), []).append(lab)
    return out


def _verdict(result, sep: dict[int, dict[str, tuple]], gates, cfg: Config):
    """``sep[seed][word] = (static S, contextual S, interval low, interval high)``."""
    separating = {seed: rules.count(lo > 0 for _, _, lo, _ in per.values()) for seed, per in sep.items()}
    n_words = len(next(iter(sep.values())))
    confirmed = all(n >= cfg.min_words for n in separating.values())
    refuted = all(n <= cfg.max_words_refuted for n in separating.values())
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    words_ = list(next(iter(sep.values())))
    median = {w: float(np.median([sep[s][w][1] for s in sep])) for w in words_}
    static = max(abs(per[w][0]) for per in sep.values() for w in per)
    return finish(result, verdict,
                  f"per word and seed, S = mean over occurrences of (mean cosine to the same sense's other occurrences "
                  f"- mean cosine to the other sense's), with a {cfg.level:.0%} bootstrap interval; a word separates "
                  f"when the interval lies above 0 (the static vector's S is 0 by construction). Confirmed when >= "
                  f"{cfg.min_words} of the {n_words} words separate in every seed; refuted when <= "
                  f"{cfg.max_words_refuted} separate in every seed; else inconclusive. Gate: each LM's held-out loss "
                  f"<= {cfg.competent} x the unigram loss, both directions, every seed.",
                  f"words separating per seed: {', '.join(f'seed {s}: {n}/{n_words}' for s, n in separating.items())}; "
                  f"largest |static S| {static:.1g}",
                  "contextual S (median over seeds) " + ", ".join(f"{w} {v:.2f}" for w, v in median.items())
                  + ("; static S 0 for every word" if static < 1e-9 else f"; static S up to {static:.2g}"), gates=gates)
