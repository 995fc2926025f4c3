"""C18: a static embedding gives a word one vector; a contextual one gives each occurrence its own.

On the English BSB, a skip-gram model (the static kind) and a bidirectional LSTM
language model (the contextual kind, as in ELMo) are trained on the same train
split. For each probe word (e.g. "bank", used here both for money and for the edge
of a river or sea) we gather its occurrences and compare:

- static self-similarity: the mean cosine between the vectors of its occurrences;
  one vector per word type makes this exactly 1;
- contextual self-similarity, centered (the mean token vector removed, so random
  pairs of different words sit near 0): below 1 when the vector moves with context,
  and above the random-pair level when it still encodes the word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from seqlab.config import to_dict
from seqlab.embeddings.compare import Comparison, EmbedSettings, compare_word
from seqlab.experiments.base import check_profile, decide, finish, new_result

CLAIM_ID = "C18"
CLAIM = ("A static word embedding (word2vec, GloVe) has one vector per word whatever the sentence; a contextual "
         "encoder such as a bidirectional LSTM gives each occurrence of a word its own vector.")


@dataclass(frozen=True)
class Config:
    words: tuple = ("bank",)
    settings: EmbedSettings = EmbedSettings(static_epochs=3, hidden=64, embed_dim=32, steps=150)
    max_contexts: int = 20
    min_occurrences: int = 5  # fewer than this cannot show a spread
    moves: float = 0.95  # centered contextual self-similarity below this: the vector moves with context
    keeps_word: float = 0.1  # ... and above this: it still encodes the word (random pairs sit near 0)
    seed: int = 0


PROFILES = {
    "quick": Config(),
    "full": Config(words=("bank", "light", "spirit", "seed"), settings=EmbedSettings(), max_contexts=50),
}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice); both models are
# cached on disk by their settings, so only a first run ever trains them
TINY = Config(settings=EmbedSettings(static_dim=8, static_epochs=1, embed_dim=8, hidden=8, steps=4, anchor_every=40),
              max_contexts=6)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    s = replace(cfg.settings, seed=cfg.seed)
    result = new_result(CLAIM_ID, CLAIM, (
        f"bsb_en train split. Static: skip-gram, {s.static_dim}-d, {s.static_epochs} epochs. Contextual: forward "
        f"+ backward word LSTM LMs, hidden {s.hidden} each, {s.steps} steps per direction; the vector of an "
        f"occurrence is both directions' states there ({2 * s.hidden}-d). Up to {cfg.max_contexts} occurrences "
        f"per word, from every split."), profile, config(profile), cfg.seed)
    found = {w: compare_word(w, s, max_contexts=cfg.max_contexts) for w in cfg.words}
    result.add_table("self-similarity over a word's occurrences", [
        "word", "occurrences", "static", "contextual (raw)", "contextual min pair", "random pairs (raw)",
        "contextual (centered)"], [_row(c) for c in found.values()])
    first = next(iter(found.values()))
    result.add_table(f"'{first.word}' in context (centered cosine to the word's mean vector)",
                     ["verse", "context", "cosine to mean", "nearest words (contextual)"],
                     [[o.key, o.context, o.cosine_to_mean, ", ".join(w for w, _ in o.neighbours)]
                      for o in first.occurrences])
    return _verdict(result, found, cfg)


def _row(c: Comparison) -> list:
    return [c.word, len(c.occurrences), 1.0, c.self_similarity, c.min_similarity, c.baseline,
            c.centered_self_similarity]


def _verdict(result, found: dict[str, Comparison], cfg: Config):
    usable = {w: c for w, c in found.items() if len(c.occurrences) >= cfg.min_occurrences}
    centered = {w: c.centered_self_similarity for w, c in usable.items()}
    moves = all(v < cfg.moves for v in centered.values())
    keeps = all(v > cfg.keeps_word for v in centered.values())
    frozen = any(v >= 0.999 for v in centered.values())  # contextual vectors that never move
    verdict = decide(enough=bool(usable), confirmed=moves and keeps, refuted=frozen)
    numbers = "; ".join(f"{w}: centered {v:.3f} over {len(usable[w].occurrences)} occurrences"
                        for w, v in centered.items())
    return finish(result, verdict,
                  f"the static self-similarity is 1 by construction (one vector per word). Confirmed when, for every "
                  f"probe word with >= {cfg.min_occurrences} occurrences, the centered contextual self-similarity is "
                  f"below {cfg.moves} (the vector moves with the sentence) and above {cfg.keeps_word} (it still "
                  f"encodes the word); refuted when the contextual vectors do not move (>= 0.999).",
                  numbers or "no probe word occurs often enough",
                  ", ".join(f"{w} contextual {v:.2f} vs static 1.00" for w, v in centered.items()))
