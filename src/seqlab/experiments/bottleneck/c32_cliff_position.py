"""C32: where the bottleneck cliff sits, and whether it moves with the vector's capacity.

The chapter places the cliff of a seq2seq model without attention "after ~20-30
tokens" and argues from fixed capacity: the context vector has one size for every
input, "more information requires more capacity". If the argument holds, a wider
vector should carry more tokens before quality collapses: the cliff should move to
longer sources as the hidden size grows, so "20-30 tokens" is a property of a size,
not a constant.

Design: a seq2seq model (no attention, source reversed) at three hidden sizes, the
same number of updates on the same batches (paired seeds), scored by greedy decoding
per source-length band. The *cliff* of one run is the lower end of the first band
whose score falls below ``cliff_frac`` x the score of the shortest band (past the
range when none does).

Quick profile: the controlled translation of C12 (``seqlab.data.transduction``, a
lexical copy of random symbols: the information to carry grows exactly with the
length), 6 symbols, token accuracy in 4-token bands of 4-23 symbols, hidden 32 / 64 / 128. Full profile: the numbers
corpus (English -> German number words, 1-48 words), exact match per 10-word band,
hidden 128 / 256 / 512 (the chapter's "256-dim vector" in the middle).

Rule (fixed before the run): the cliff *moves with capacity* in a seed when it is
non-decreasing across the three sizes and later at the largest than at the smallest;
it is *fixed* in a seed when it is the same at all three sizes. Confirmed when it
moves in every seed; refuted when it is fixed in every seed; inconclusive otherwise.
Where the cliff of the middle size sits is reported against the chapter's 20-30
(in tokens of this task), not judged: it depends on the size and the task. Gates:
every size competent on the shortest band in every seed (min over seeds), every
run trained (dev curve gained at most ``converged`` over the last quarter), and the
smallest size has a cliff inside the range in every seed (else the range is too
short to locate anything).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.data.transduction import Transduction
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import rules
from seqlab.experiments.core import flops
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.band_runs import band_scores
from seqlab.experiments.core.nt_runs import NUMBERS
from seqlab.experiments.core.transduction_runs import bucket_scores, train
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.metrics import LONG_BUCKETS

CLAIM_ID = "C32"
CLAIM = ("The bottleneck cliff: a seq2seq model's \"Performance degrades sharply after ~20-30 tokens\", and the "
         "fixed-capacity argument (\"more information requires more capacity\") predicts the cliff moves with the "
         "context vector's size. Quick: controlled task (random-symbol translation); full: real data (numbers "
         "corpus, English -> German).")


@dataclass(frozen=True)
class Config:
    vocab: int = 6
    min_len: int = 4
    max_len: int = 23
    band: int = 4  # bands of `band` tokens starting every 6: 4-7, 10-13, 16-19
    step: int = 6
    hidden: tuple[int, ...] = (32, 64, 128)
    embed_dim: int = 16
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-2
    test_sentences: int = 48  # per band
    competent: float = 0.8  # token accuracy every size needs on the shortest band
    converged: float = 0.05
    cliff_frac: float = 0.75  # a band below this fraction of the shortest band's score is past the cliff
    metric: str = "token"


@dataclass(frozen=True)
class CorpusConfig:
    """The full profile: the numbers corpus, exact match per 10-word band."""

    numbers: tuple = tuple(NUMBERS.items())
    hidden: tuple[int, ...] = (128, 256, 512)
    embed_dim: int = 128
    steps: int = 3000
    max_tokens: int = 4096
    lr: float = 1e-3
    eval_sentences: int = 200
    test_limit: int | None = None
    competent: float = 80.0  # exact match % on the 1-10 word band
    converged: float = 1.0  # dev chrF points
    cliff_frac: float = 0.75
    metric: str = "exact"


PROFILES = {"quick": Config(), "full": CorpusConfig()}
TINY = Config(vocab=6, min_len=2, max_len=7, band=2, step=3, hidden=(4, 6, 8), embed_dim=4, steps=4, batch_size=8,
              test_sentences=2)
TINY_CORPUS = CorpusConfig(numbers=tuple({**NUMBERS, "numbers_size": 300, "numbers_max_words": 24,
                                          "numbers_max_digits": 12}.items()),
                           hidden=(4, 6, 8), embed_dim=4, steps=4, max_tokens=512, eval_sentences=8, test_limit=40)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def bands(cfg: Config) -> list[tuple[int, int]]:
    return [(lo, lo + cfg.band - 1) for lo in range(cfg.min_len, cfg.max_len - cfg.band + 2, cfg.step)]


def spec(hidden: int, embed_dim: int, cell: str) -> dict:
    return {"arch": "seq2seq", "reverse_source": True, "embed_dim": embed_dim, "hidden": hidden, "layers": 1,
            "cell": cell}


def cliff(scores: list[float], starts: list[int], frac: float, beyond: int) -> int:
    """The start of the first band scoring below ``frac`` x the first band's score; ``beyond`` when none."""
    floor = frac * scores[0]
    return next((lo for lo, s in zip(starts, scores) if s < floor), beyond)


RULE = ("competent", "converged", "cliff_frac", "metric", "hidden")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (hidden size, seed)."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    corpus = isinstance(cfg, CorpusConfig)
    out = []
    for s in rules.seeds(profile):
        for h in cfg.hidden:
            sp = spec(h, cfg.embed_dim, "gru" if corpus else "lstm")
            work = (flops.corpus_translation(sp, dict(cfg.numbers), cfg.steps, cfg.max_tokens) if corpus else
                    flops.synthetic_translation(sp, cfg.vocab, cfg.min_len, cfg.max_len, cfg.batch_size, cfg.steps))
            out.append(Unit(f"h{h}-s{s}", "train_corpus" if corpus else "train_task", {**args, "hidden": h,
                                                                                        "seed": s},
                            seed=s, flops=work))
    return out


def train_task(cfg: dict, hidden: int, seed: int) -> dict:
    """Seq2seq of width ``hidden`` trained with ``seed`` on the synthetic translation; token accuracy per band."""
    cfg = config_of(Config, cfg)
    task = Transduction(cfg.vocab, cfg.min_len, cfg.max_len)
    t = train(spec(hidden, cfg.embed_dim, "lstm"), task, cfg.steps, seed, cfg.lr, cfg.batch_size)
    rows = bucket_scores(t.model, task, bands(cfg), cfg.test_sentences)
    return {"names": [r["bucket"] for r in rows], "token": [r["token"] for r in rows],
            "exact": [r["exact"] for r in rows], "curve": t.curve, "seconds": t.train_seconds}


def train_corpus(cfg: dict, hidden: int, seed: int) -> dict:
    """Seq2seq of width ``hidden`` trained with ``seed`` on the numbers corpus; scores per 10-word band."""
    cfg = config_of(CorpusConfig, cfg)
    b = band_scores(f"seq2seq {hidden}", dict(cfg.numbers), spec(hidden, cfg.embed_dim, "gru"), cfg.steps, seed,
                    LONG_BUCKETS, eval_sentences=cfg.eval_sentences, max_tokens=cfg.max_tokens, lr=cfg.lr,
                    limit=cfg.test_limit)
    return {"names": b.bands, "exact": b.exact, "chrf": b.chrf, "curve": b.curve, "seconds": b.seconds}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    runs = {(h, s): results[f"h{h}-s{s}"] for h in cfg.hidden for s in seeds}
    scores = {key: r[cfg.metric] for key, r in runs.items()}
    names = runs[cfg.hidden[0], seeds[0]]["names"]
    if isinstance(cfg, CorpusConfig):
        starts = [int(name.split("-")[0].rstrip("+")) for name in names]
        setup = (f"English -> German number words, 1-{dict(cfg.numbers)['numbers_max_words']} English words. GRU "
                 f"seq2seq (reversed source, no attention) at hidden {list(cfg.hidden)}, embeddings {cfg.embed_dim}, "
                 f"{cfg.steps} updates of {cfg.max_tokens} tokens, lr {cfg.lr}, seeds {list(seeds)}; greedy decoding "
                 "of the test split, exact match per 10-word band.")
    else:
        starts = [lo for lo, _ in bands(cfg)]
        setup = (f"Random-symbol translation (vocabulary {cfg.vocab}, lengths {cfg.min_len}-{cfg.max_len}, a "
                 f"lexical copy). LSTM seq2seq (reversed source, no attention) at hidden {list(cfg.hidden)}, "
                 f"embeddings {cfg.embed_dim}, {cfg.steps} updates of {cfg.batch_size} sentences, lr {cfg.lr}, seeds "
                 f"{list(seeds)}; greedy decoding of {cfg.test_sentences} fixed test sources per band, token "
                 "accuracy.")
    result = new_result(CLAIM_ID, CLAIM, setup, profile, config(profile), seeds=seeds)
    result.add_table(f"seq2seq {cfg.metric} score by source band", ["hidden", "seed", *names, "training s"],
                     [[h, s, *scores[h, s], runs[h, s]["seconds"]] for h in cfg.hidden for s in seeds],
                     timing=["training s"])
    beyond = starts[-1] + 1
    cliffs = {(h, s): cliff(scores[h, s], starts, cfg.cliff_frac, beyond) for h in cfg.hidden for s in seeds}
    result.add_table(f"cliff: first band below {cfg.cliff_frac} x the shortest band's score "
                     f"({beyond} = past the range)", ["seed", *(f"hidden {h}" for h in cfg.hidden)],
                     [[s, *(cliffs[h, s] for h in cfg.hidden)] for s in seeds])
    mids = [lo + 0.5 for lo in starts]
    result.add_figure("cliff_by_capacity", "Seq2seq score by source band, per hidden size (seed "
                      f"{seeds[0]}).", line_plot({f"hidden {h}": (mids, scores[h, seeds[0]]) for h in cfg.hidden},
                                                "the cliff by capacity", "source length", f"{cfg.metric} (greedy)"))
    first = {h: min(scores[h, s][0] for s in seeds) for h in cfg.hidden}
    gates = [rules.at_least(f"hidden {h} competent on the shortest band (min over seeds)", first[h], cfg.competent)
             for h in cfg.hidden]
    gates += [rules.converged(f"hidden {h} seed {s} trained (dev curve)", runs[h, s]["curve"], cfg.converged)
              for h in cfg.hidden for s in seeds]
    gates.append(rules.at_least(f"hidden {cfg.hidden[0]} has a cliff inside the range (seeds)",
                                rules.count(cliffs[cfg.hidden[0], s] < beyond for s in seeds), len(seeds)))
    return _verdict(result, rule([[cliffs[h, s] for h in cfg.hidden] for s in seeds]), cfg, cliffs, seeds, gates)


def rule(per_seed: list[list[int]]) -> dict:
    """The rule on measured cliffs: one list per seed, the cliff at each hidden size (smallest first)."""
    moves = [all(a <= b for a, b in zip(c, c[1:])) and c[-1] > c[0] for c in per_seed]
    fixed = [len(set(c)) == 1 for c in per_seed]
    n = len(per_seed)
    shift = [c[-1] - c[0] for c in per_seed]
    return {"moves": rules.count(moves), "fixed": rules.count(fixed), "shift": shift, "margin": min(shift),
            "confirmed": all(moves), "refuted": all(fixed), "seeds": n}


def _verdict(result, r: dict, cfg, cliffs: dict, seeds, gates):
    verdict = judge(enough=rules.gates_pass(gates), confirmed=r["confirmed"], refuted=r["refuted"])
    mid = cfg.hidden[len(cfg.hidden) // 2]
    mid_cliff = statistics.median(cliffs[mid, s] for s in seeds)
    unit = "words" if cfg.metric == "exact" else "tokens"
    result.add_table("margin of the deciding numbers", ["quantity", "value", "threshold", "margin",
                                                        "margin (fraction)"],
                     [["smallest per-seed shift of the cliff, largest - smallest size (" + unit + ")", r["margin"],
                       "> 0", r["margin"], r["margin"] / max(abs(x) for x in r["shift"]) if any(r["shift"]) else 0.0],
                      ["seeds where the cliff moves with capacity", r["moves"], r["seeds"], r["moves"] - r["seeds"],
                       (r["moves"] - r["seeds"]) / r["seeds"]]])
    result.notes.append(f"the cliff of the middle size (hidden {mid}) sits at {mid_cliff:g} {unit} (median of seeds); "
                        "the chapter says ~20-30 tokens. Reported, not judged: the position depends on the size.")
    return finish(result, verdict,
                  f"Cliff of a run: the first band scoring below {cfg.cliff_frac} x the shortest band. Gates: every "
                  f"size scores >= {cfg.competent} on the shortest band in every seed, every dev curve gains <= "
                  f"{cfg.converged} over the last quarter, and the smallest size has a cliff inside the range in "
                  "every seed. Confirmed when, in every seed, the cliff is non-decreasing with the hidden size and "
                  "later at the largest than at the smallest; refuted when in every seed it is the same at all "
                  "sizes.",
                  "cliff per seed (hidden " + "/".join(str(h) for h in cfg.hidden) + "): "
                  + "; ".join(f"seed {s}: " + "/".join(str(cliffs[h, s]) for h in cfg.hidden) for s in seeds)
                  + f"; moves in {r['moves']}/{r['seeds']} seeds, fixed in {r['fixed']}; smallest shift "
                  f"{r['margin']} {unit} (margin over 0)",
                  f"cliff at hidden {'/'.join(str(h) for h in cfg.hidden)}: "
                  + "/".join(f"{statistics.median(cliffs[h, s] for s in seeds):g}" for h in cfg.hidden)
                  + f" {unit} (median)", gates=gates,
                  margins=[rules.Margin("smallest per-seed shift of the cliff, largest - smallest size", r["margin"],
                                        0.5, unit, noise=rules.seed_noise(r["shift"])),
                           rules.Margin("seeds where the cliff moves with capacity", r["moves"], r["seeds"] - 0.5,
                                        "seeds")])
