"""C41: a BiLSTM tagger stays competitive for part-of-speech tagging, where both sides' context matters.

Data: real tagged text. No package on the registry ships a Universal Dependencies treebank
or another tagged corpus inside it (the package lists name UD tools and NLTK, whose
corpora are downloaded at run time, which seqlab does not do); the ``bible-alignments``
package that seqlab already installs carries the SBL Greek New Testament with a part of
speech for every word (``seqlab.data.corpora.bible.greek_tagged``: 137,741 words, 11 tags).
Verses are split as the NT corpus is (by verse key, 90/5/5), each split's words joined in
order into one stream; a training example is a window of ``length`` consecutive words.
Words are lower-cased; the vocabulary is the training words seen at least twice (the rest
are UNK, so an unseen word's tag must come from its context).

Three taggers train on the same windows (paired seeds), for the same number of updates: a
left-to-right LSTM, a BiLSTM (the same width per direction), and a small bidirectional
Transformer encoder (one layer). Test accuracy on every word of the test stream (cut into
windows of ``length``), and on the UNK words alone; beside it the lexicon baseline (each
form's most frequent training tag; the most frequent tag for unseen forms).

Rule, fixed before the run: confirmed when in every seed the BiLSTM is within 0.01 of the
Transformer's accuracy (or above it) and above the left-to-right LSTM by >= 0.005;
refuted when in a majority of seeds the BiLSTM trails the Transformer by more than 0.02 or
does not beat the left-to-right LSTM. Gates: the BiLSTM and the Transformer reach >= 0.85
test accuracy (competent) and every model is trained (dev accuracy gains <= 0.01 over the
last quarter of the budget).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass

import torch

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.batch import SeqBatch
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import fit
from seqlab.experiments.problem.c30_failure_table import DevCurve

CLAIM_ID = "C41"
QUOTE = ("Despite their limitations, BiLSTMs remain competitive for some tasks (NER, POS tagging) where sequences "
         "are short and bidirectional context is essential.")
CLAIM = (f"\"{QUOTE}\" A BiLSTM part-of-speech tagger against a left-to-right LSTM and a small Transformer "
         "encoder. Real data: the SBL Greek New Testament's words and part-of-speech tags.")
UNI, BI, TRANSFORMER = "left-to-right LSTM", "BiLSTM", "Transformer encoder"
MODELS = (UNI, BI, TRANSFORMER)
UNK = 0


@dataclass(frozen=True)
class Config:
    length: int = 16  # words per window
    hidden: int = 64  # per direction; the Transformer's d_model
    embed_dim: int = 64
    heads: int = 4
    steps: int = 400
    batch_size: int = 32
    lr: float = 0.01  # LSTMs
    transformer_lr: float = 3e-3
    evals: int = 4
    min_count: int = 2
    verses: int = 0  # 0: every verse (a smaller number: the first verses, for tests)
    close: float = 0.01  # within this of the Transformer: competitive
    behind: float = 0.02  # trailing by more than this: not competitive
    context: float = 0.005  # above the left-to-right LSTM by at least this
    competent: float = 0.85
    converged: float = 0.01


PROFILES = {"quick": Config(),
            "full": Config(length=32, hidden=256, embed_dim=128, heads=8, steps=4000, lr=3e-3, transformer_lr=1e-3,
                           evals=8)}  # one GPU
TINY = Config(length=6, hidden=8, embed_dim=8, heads=2, steps=8, batch_size=8, verses=400, competent=0.0)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


@dataclass(frozen=True)
class TaggedStream:
    """Windows of ``length`` consecutive words of one split: x word ids (UNK = 0), y tag ids, every word scored."""

    ids: torch.Tensor  # (N,)
    tags: torch.Tensor  # (N,)
    length: int
    vocab_size: int
    output_dim: int

    input_dim = None
    loss_kind = "ce"

    @property
    def chance_loss(self) -> float:
        return math.log(self.output_dim)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        start = torch.randint(0, len(self.ids) - self.length + 1, (batch_size, 1), generator=generator)
        at = start + torch.arange(self.length)  # (B, T)
        return SeqBatch(self.ids[at], self.tags[at], torch.ones(batch_size, self.length, dtype=torch.bool))

    def windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole stream as non-overlapping windows (the last partial one dropped): (n, T) ids and tags."""
        n = len(self.ids) // self.length
        return self.ids[: n * self.length].view(n, -1), self.tags[: n * self.length].view(n, -1)


def streams(cfg: Config) -> tuple[dict[str, TaggedStream], dict]:
    """Train/dev/test streams and the vocabulary facts (words, tags, the lexicon baseline's table)."""
    from seqlab.data.corpora.base import split_by_position
    from seqlab.data.corpora.bible import greek_tagged

    verses = greek_tagged()
    keys = sorted(verses)[: cfg.verses or None]
    split = split_by_position(keys)
    words = {s: [(w.lower(), t) for k in ks for w, t in verses[k]] for s, ks in split.items()}
    counts = Counter(w for w, _ in words["train"])
    vocab = {w: i + 1 for i, w in enumerate(sorted(w for w, n in counts.items() if n >= cfg.min_count))}
    tagset = {t: i for i, t in enumerate(sorted({t for ws in words.values() for _, t in ws}))}
    out = {s: TaggedStream(torch.tensor([vocab.get(w, UNK) for w, _ in ws]), torch.tensor([tagset[t] for _, t in ws]),
                           cfg.length, len(vocab) + 1, len(tagset)) for s, ws in words.items()}
    by_form: dict[str, Counter] = {}
    for w, t in words["train"]:
        by_form.setdefault(w, Counter())[t] += 1
    common = Counter(t for _, t in words["train"]).most_common(1)[0][0]
    lexicon = [by_form[w].most_common(1)[0][0] if w in by_form else common for w, _ in words["test"]]
    baseline = sum(p == t for p, (_, t) in zip(lexicon, words["test"])) / len(words["test"])
    return out, {"vocab": len(vocab), "tags": len(tagset), "lexicon": baseline,
                 "tokens": {s: len(ws) for s, ws in words.items()}, "unk test": float((out["test"].ids == UNK).mean(
                     dtype=torch.float32))}


def spec(cfg: Config, model: str) -> ModelConfig:
    if model == TRANSFORMER:
        return ModelConfig(arch="transformer", hidden_size=cfg.hidden, embed_dim=cfg.embed_dim, heads=cfg.heads,
                           bidirectional=True)
    return ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=cfg.embed_dim, bidirectional=model == BI,
                       forget_bias=1.0)


@torch.no_grad()
def accuracy(model: torch.nn.Module, stream: TaggedStream) -> tuple[float, float]:
    """(accuracy on every word of the stream, on its UNK words alone)."""
    model.eval()
    x, y = stream.windows()  # (n, T)
    device = next(model.parameters()).device
    pred = torch.cat([model(x[i:i + 256].to(device))[0].argmax(-1).cpu() for i in range(0, len(x), 256)])  # (n, T)
    hit, unk = pred == y, x == UNK
    return float(hit.float().mean()), float(hit[unk].float().mean()) if unk.any() else math.nan


def train(cfg: Config, model: str, data: dict[str, TaggedStream], seed: int) -> dict:
    dev = DevCurve(data["dev"], max(cfg.steps // cfg.evals, 1), batches=2)
    f = fit(spec(cfg, model), data["train"], cfg.steps, lr=cfg.transformer_lr if model == TRANSFORMER else cfg.lr,
            seed=seed, batch_size=cfg.batch_size, clip_norm=1.0, callbacks=(dev,))
    acc, unk = accuracy(f.model, data["test"])
    return {"accuracy": acc, "unk": unk, "curve": dev.points, "params": sum(p.numel() for p in f.model.parameters()),
            "secs": f.wall_time}


def outcome(acc: dict, cfg: Config, seeds) -> dict:
    """The rule on test accuracies keyed (model, seed)."""
    gap = [acc[BI, s] - acc[TRANSFORMER, s] for s in seeds]
    lead = [acc[BI, s] - acc[UNI, s] for s in seeds]
    majority = len(seeds) // 2 + 1
    return {"gap": gap, "lead": lead,
            "confirmed": all(g >= -cfg.close for g in gap) and all(d >= cfg.context for d in lead),
            "refuted": rules.count(g < -cfg.behind for g in gap) >= majority
            or rules.count(d <= 0 for d in lead) >= majority,
            "margins": {"BiLSTM - Transformer, min over seeds, over -close": min(gap) + cfg.close,
                        "BiLSTM - left-to-right, min over seeds, over context": min(lead) - cfg.context}}


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    data, facts = streams(cfg)
    result = new_result(CLAIM_ID, CLAIM, (
        f"SBLGNT words with their part of speech ({facts['tags']} tags; {facts['tokens']['train']} train, "
        f"{facts['tokens']['test']} test words; verse split 90/5/5), lower-cased, vocabulary: train words seen >= "
        f"{cfg.min_count} times ({facts['vocab']}; {facts['unk test']:.1%} of test words UNK). Windows of {cfg.length} "
        f"words. {UNI} and {BI} (hidden {cfg.hidden} per direction, Adam lr {cfg.lr}), {TRANSFORMER} (one layer, "
        f"d_model {cfg.hidden}, {cfg.heads} heads, lr {cfg.transformer_lr}); embeddings {cfg.embed_dim}, clip 1.0, "
        f"{cfg.steps} updates of {cfg.batch_size} windows, the same windows for every model; seeds {list(seeds)}."),
        profile, config(profile), seeds=seeds)
    runs = {(m, s): train(cfg, m, data, s) for s in seeds for m in MODELS}
    result.add_table("test accuracy per model and seed", ["model", "seed", "accuracy", "accuracy on UNK words",
                                                          "parameters", "train s"],
                     [[m, s, runs[m, s]["accuracy"], runs[m, s]["unk"], runs[m, s]["params"],
                       round(runs[m, s]["secs"], 1)] for m in MODELS for s in seeds], timing=["train s"])
    result.add_table("not deciding: the lexicon baseline (each form's most frequent training tag)",
                     ["test accuracy"], [[facts["lexicon"]]])
    return _verdict(result, runs, cfg, seeds)


def _verdict(result, runs: dict, cfg: Config, seeds):
    acc = {k: r["accuracy"] for k, r in runs.items()}
    out = outcome(acc, cfg, seeds)
    gates = [rules.at_least(f"{m} competent (test accuracy, min over seeds)", min(acc[m, s] for s in seeds),
                            cfg.competent) for m in (BI, TRANSFORMER)]
    gates += [rules.converged(f"{m} seed {s} trained (dev accuracy)", runs[m, s]["curve"], cfg.converged)
              for m in MODELS for s in seeds]
    thresholds = {"BiLSTM - Transformer, min over seeds, over -close": cfg.close,
                  "BiLSTM - left-to-right, min over seeds, over context": cfg.context}
    result.add_table("margin of each deciding number to its threshold", ["number", "margin", "as a fraction"],
                     [[k, m, m / thresholds[k]] for k, m in out["margins"].items()])
    verdict = judge(enough=rules.gates_pass(gates), confirmed=out["confirmed"], refuted=out["refuted"])
    med = {m: statistics.median(acc[m, s] for s in seeds) for m in MODELS}
    return finish(
        result, verdict,
        f"confirmed when in every seed the BiLSTM's test accuracy is >= the Transformer's - {cfg.close} and >= the "
        f"left-to-right LSTM's + {cfg.context}; refuted when in a majority of seeds it trails the Transformer by more "
        f"than {cfg.behind} or does not beat the left-to-right LSTM. Gates: BiLSTM and Transformer >= "
        f"{cfg.competent} test accuracy; every model gains <= {cfg.converged} dev accuracy over its last quarter.",
        "BiLSTM - Transformer per seed: " + ", ".join(f"{g:+.4f}" for g in out["gap"]) + "; BiLSTM - left-to-right: "
        + ", ".join(f"{d:+.4f}" for d in out["lead"]) + "; margins: "
        + ", ".join(f"{k} {m:+.4f} ({m / thresholds[k]:+.0%})" for k, m in out["margins"].items()),
        ", ".join(f"{m} {med[m]:.4f}" for m in MODELS) + " (median test accuracy)", gates=gates)
