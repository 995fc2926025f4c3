"""C13: attention weights behave as soft word alignments.

Quick profile: a synthetic translation whose gold word links are known by construction
(``seqlab.data.transduction``: a lexicon, local reordering of modifier-noun pairs,
words that become two target tokens, words that vanish). Luong attention models (dot and
general scores; Bahdanau's additive model too in the full profile) train a fixed number of
updates on paired seeds; each target token is linked to its most attended source word (teacher
forcing) and the links are scored against gold by the alignment error rate (AER =
1 - F1). Two baselines: a diagonal aligner that knows only the lengths, and the model's
own attention rows shuffled across target positions (the same weights, the order lost).

Full profile: Greek -> English NT with its gold word alignments (``experiments.nt_runs``).
Bahdanau and Luong (general, dot) models train a fixed number of updates on five paired
seeds; subword attention is summed into words and each English word linked to its most
attended Greek word. Baselines: the diagonal aligner and Dice co-occurrence statistics
of the training verses (an aligner without any model); a few verses are drawn as
heatmaps with the gold links overlaid. A BLEU gate (>= 10) keeps a model that does not
translate from deciding.
"""

from __future__ import annotations

import base64
import statistics
from dataclasses import dataclass, replace

from seqlab.config import to_dict
from seqlab.data.transduction import Transduction
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.nt_runs import NT, dice_aligner, recipe, train_and_score
from seqlab.experiments.core.transduction_runs import alignment_scores, bucket_scores, train
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.translation.config import MTData
from seqlab.translation.data import load_pairs

CLAIM_ID = "C13"
CLAIM = "Attention weights line up with word alignments: they can be read as soft alignments."


@dataclass(frozen=True)
class Config:
    vocab: int = 16
    min_len: int = 4
    max_len: int = 16
    fertile: float = 0.2
    deleted: float = 0.1
    modifier: float = 0.25
    hidden: int = 64
    embed_dim: int = 32
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-2
    test_sentences: int = 200
    competent: float = 0.85  # greedy token accuracy on the test sources: the model translates
    converged: float = 0.05  # the last quarter may beat the best earlier dev accuracy by at most this
    margin: float = 0.1  # AER below both baselines by at least this much
    models: tuple[str, ...] = ("luong-dot", "luong-general")  # Bahdanau's step-by-step decoder: full only
    baselines: tuple[str, ...] = ("diagonal", "shuffled")  # the attention AER must beat each
    score_name: str = "token accuracy"


@dataclass(frozen=True)
class CorpusConfig:
    """The full profile: NT Greek -> English, gold alignments of the test verses."""

    data: tuple = tuple(NT.items())
    models: tuple[str, ...] = ("bahdanau", "luong-general", "luong-dot")
    embed_dim: int = 256
    hidden: int = 256
    steps: int = 4000  # updates of max_tokens padded tokens
    max_tokens: int = 4096
    lr: float = 1e-3
    eval_sentences: int = 200
    test_limit: int | None = 500  # test verses decoded for BLEU
    verses: int = 1000  # gold-aligned test verses scored for AER
    heatmaps: int = 3  # per model, first seed
    competent: float = 10.0  # test BLEU: the model translates
    converged: float = 1.0  # dev BLEU the last quarter may gain over the best earlier point
    margin: float = 0.1  # AER below the diagonal's by at least this much
    baselines: tuple[str, ...] = ("diagonal",)  # Dice is reported: an aligner, not a floor
    score_name: str = "BLEU"


PROFILES = {"quick": Config(), "full": CorpusConfig()}
TINY_CORPUS = CorpusConfig(models=("luong-dot",), embed_dim=8, hidden=8, steps=4, max_tokens=512,
                           eval_sentences=8, test_limit=20, verses=20, heatmaps=1)
TINY = Config(vocab=6, min_len=2, max_len=5, hidden=8, embed_dim=4, steps=8, batch_size=8, test_sentences=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def models(cfg: Config) -> dict[str, dict]:
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": "gru"}
    specs = {"luong-dot": {"arch": "luong", "score": "dot", "input_feed": False, **common},
             "luong-general": {"arch": "luong", "score": "general", "input_feed": False, **common},
             "bahdanau": {"arch": "bahdanau", **common}}
    return {label: specs[label] for label in cfg.models}


RULE = ("models", "competent", "converged", "margin", "baselines", "score_name")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (model, seed): trained, its translations scored and its attention read as links."""
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    args = {"cfg": settings(cfg, RULE)}
    if isinstance(cfg, Config):
        fn, cost = "train_quick", lambda spec: flops.synthetic_translation(spec, cfg.vocab, cfg.min_len, cfg.max_len,
                                                                            cfg.batch_size, cfg.steps)
    else:
        fn, cost = "train_nt", lambda spec: flops.corpus_translation(spec, dict(cfg.data), cfg.steps, cfg.max_tokens)
    return [Unit(f"{label}-s{seed}", fn, {**args, "label": label, "seed": seed, "first": seed == seeds[0]}, seed=seed,
                 flops=cost(spec)) for seed in seeds for label, spec in models(_sizes(cfg)).items()]


def _sizes(cfg) -> Config:
    """The model sizes and list of ``cfg`` as a quick Config (``models`` reads these)."""
    return cfg if isinstance(cfg, Config) else Config(hidden=cfg.hidden, embed_dim=cfg.embed_dim, models=cfg.models)


def train_quick(cfg: dict, label: str, seed: int, first: bool) -> dict:
    """Model ``label`` trained with ``seed`` on the synthetic translation: accuracy, AER, dev curve."""
    cfg = config_of(Config, cfg)
    task = Transduction(cfg.vocab, cfg.min_len, cfg.max_len, cfg.fertile, cfg.deleted, cfg.modifier)
    t = train(models(replace(cfg, models=(label,)))[label], task, cfg.steps, seed, cfg.lr, cfg.batch_size)
    return {"accuracy": bucket_scores(t.model, task, [(cfg.min_len, cfg.max_len)], cfg.test_sentences)[0],
            "aer": alignment_scores(t.model, task, cfg.test_sentences, cfg.min_len, cfg.max_len, seed),
            "curve": t.curve, "train_seconds": t.train_seconds}


def train_nt(cfg: dict, label: str, seed: int, first: bool) -> dict:
    """Model ``label`` trained with ``seed`` on NT: test BLEU, AER against gold, diagonal and Dice; heatmaps
    of a few verses when ``first`` (the first seed)."""
    cfg = config_of(CorpusConfig, cfg)
    data = dict(cfg.data)
    dice = dice_aligner(load_pairs(MTData(**data)))
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1}
    spec = models(_sizes(replace(cfg, models=(label,))))[label]
    r = train_and_score(label, recipe(data, {**spec, **common}, cfg.steps, seed, cfg.eval_sentences, cfg.max_tokens,
                                      cfg.lr),
                        cfg.test_limit, align=cfg.verses, heatmaps=cfg.heatmaps if first else 0, dice=dice)
    return {"bleu": r.scores["bleu"], "alignment": r.alignment, "curve": r.curve, "train_seconds": r.train_seconds,
            "heatmaps": [[key, base64.b64encode(png).decode("ascii")] for key, png in r.heatmaps]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    if isinstance(cfg, CorpusConfig):
        return decide_corpus(cfg, profile, results)
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Synthetic translation with gold links: vocabulary {cfg.vocab}, lengths {cfg.min_len}-{cfg.max_len}, "
        f"{cfg.fertile:.0%} of words give two tokens, {cfg.deleted:.0%} vanish, {cfg.modifier:.0%} swap with the next "
        f"word. {', '.join(cfg.models)} (GRU, hidden {cfg.hidden}), {cfg.steps} updates each, seeds {list(seeds)}; "
        f"AER of attention argmax links on {cfg.test_sentences} fixed test sentences."), profile, to_dict(cfg),
        seeds=seeds)
    aer, accuracy, curves, rows = {}, {}, {}, []
    for seed in seeds:
        for label in cfg.models:
            r = results[f"{label}-s{seed}"]
            accuracy[label, seed], aer[label, seed], curves[label, seed] = r["accuracy"], r["aer"], r["curve"]
            a = aer[label, seed]
            rows.append([label, seed, accuracy[label, seed]["token"], a["attention"], a["diagonal"], a["shuffled"],
                         r["train_seconds"]])
    result.add_table("alignment error rate (lower is better)",
                     ["model", "seed", "token accuracy", "AER attention", "AER diagonal", "AER shuffled rows",
                      "training s"], rows, timing=["training s"])
    return _verdict(result, aer, accuracy, curves, cfg, seeds)


def decide_corpus(cfg: CorpusConfig, profile: str, results: dict):
    """NT: attention AER against gold, the diagonal and Dice; BLEU and convergence gates."""
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"NT Greek -> English: {', '.join(cfg.models)} (GRU, embeddings {cfg.embed_dim}, hidden {cfg.hidden}), "
        f"{cfg.steps} updates of {cfg.max_tokens} tokens each, seeds {list(seeds)}; test BLEU (greedy, "
        f"{cfg.test_limit or 'all'} verses); AER of attention argmax links on {cfg.verses} gold-aligned test "
        "verses, against the diagonal aligner and Dice co-occurrence links from the training verses."),
        profile, to_dict(cfg), seeds=seeds)
    aer, accuracy, curves, rows = {}, {}, {}, []
    for seed in seeds:
        for label in cfg.models:
            r = results[f"{label}-s{seed}"]
            a = r["alignment"]
            aer[label, seed] = {"attention": a["attention"], "diagonal": a["diagonal"], "dice": a["dice"]}
            accuracy[label, seed] = {"token": r["bleu"]}
            curves[label, seed] = r["curve"]
            rows.append([label, seed, r["bleu"], a["attention"], a["diagonal"], a["dice"], a["verses"],
                         r["train_seconds"]])
            for key, png in r["heatmaps"]:
                result.add_figure(f"heatmap_{label}_{key.replace(' ', '_').replace(':', '_')}",
                                  f"{label}, {key}: word attention (teacher forcing), gold links as red squares.",
                                  base64.b64decode(png))
    result.add_table("NT alignment error rate (lower is better)",
                     ["model", "seed", "test BLEU", "AER attention", "AER diagonal", "AER Dice", "verses",
                      "training s"], rows, timing=["training s"])
    return _verdict(result, aer, accuracy, curves, cfg, seeds)


def _verdict(result, aer: dict, accuracy: dict, curves: dict, cfg, seeds):
    labels = list(dict.fromkeys(label for label, _ in aer))
    score = cfg.score_name
    gates = [rules.at_least(f"{label} translates (min {score} over seeds)",
                            min(accuracy[label, s]["token"] for s in seeds), cfg.competent) for label in labels]
    gates += [rules.converged(f"{label} seed {s} trained (dev {score})", curves[label, s], cfg.converged)
              for label in labels for s in seeds]
    beats = {k: min(a[b] for b in cfg.baselines) - a["attention"] for k, a in aer.items()}
    need = len(seeds) - 1  # all seeds but one: 2 of 3 in quick, 4 of 5 in full
    wins = {label: rules.count(beats[label, s] >= cfg.margin for s in seeds) for label in labels}
    med_beat = {label: statistics.median(beats[label, s] for s in seeds) for label in labels}
    confirmed = all(wins[label] >= need and med_beat[label] >= cfg.margin for label in labels)
    refuted = all(statistics.median(aer[label, s]["attention"] - aer[label, s]["diagonal"] for s in seeds) >= 0
                  for label in labels)
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    med = {label: statistics.median(aer[label, s]["attention"] for s in seeds) for label in labels}
    diag = statistics.median(aer[labels[0], s]["diagonal"] for s in seeds)
    against = " and ".join(f"the {b} aligner's" if b == "diagonal" else f"its own {b} rows'" for b in cfg.baselines)
    return finish(result, verdict,
                  f"gates: every model reaches {score} >= {cfg.competent} on the test sources in every "
                  f"seed and improves on its best earlier dev {score} by at most {cfg.converged} in its last quarter "
                  "of updates. Confirmed "
                  f"when, for every model, the attention AER is at least {cfg.margin} below {against} "
                  f"in at least {need} of {len(seeds)} seeds and in the median; "
                  "refuted when every model's median attention AER is no better than the diagonal's.",
                  "AER below the better baseline: " + "; ".join(f"{k[0]} seed {k[1]} {v:+.3f}" for k, v in beats.items()),
                  "attention AER " + ", ".join(f"{label} {v:.3f}" for label, v in med.items())
                  + f" vs diagonal {diag:.3f} (medians of {len(seeds)} seeds)", gates=gates)
