"""Corpus loaders: counts, fixed disjoint splits, determinism, hand-checked alignments,
and the one-line message when the package holding the data is missing."""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

import numpy as np
import pytest

from seqlab.cli import data as data_cli
from seqlab.data.corpora import SPLITS, load_corpus, load_numbers
from seqlab.data.corpora import base, bible, numbers
from seqlab.errors import MissingDependencyError, SeqlabError


def keys_of(corpus, split):
    return [p.key for p in corpus.splits[split]]


# --- nt_el_en -------------------------------------------------------------------------

def test_nt_counts_and_fixed_split():
    c = load_corpus("nt_el_en")
    assert c.split_sizes() == {"train": 7142, "dev": 397, "test": 397}
    all_keys = sorted(k for s in SPLITS for k in keys_of(c, s))
    assert len(all_keys) == len(set(all_keys)) == 7936  # disjoint, and every pair once
    # the written-down rule: sorted position i % 20 == 0 test, == 1 dev
    assert keys_of(c, "test") == all_keys[0::20]
    assert keys_of(c, "dev") == all_keys[1::20]
    assert all(isinstance(p.src, str) and isinstance(p.tgt, str) for p in c.splits["dev"])


def test_nt_content_hash_is_pinned_to_the_package_version():
    # bible-alignments==0.4.2: same data, same hash on every machine
    assert load_corpus("nt_el_en").content_hash() == "a6a62b1cf9c49b6e"


def test_nt_first_verse_read_by_hand():
    c = load_corpus("nt_el_en")
    (pair,) = [p for p in c.splits["test"] if p.key == "40001001"]  # position 0 -> test
    assert pair.src == "Βίβλος γενέσεως Ἰησοῦ χριστοῦ υἱοῦ Δαυὶδ υἱοῦ Ἀβραάμ"
    assert pair.tgt == ("This is the record of the genealogy of Jesus Christ, "
                        "the son of David, the son of Abraham:")
    assert len(pair.tgt_tokens) == 21 and pair.tgt_tokens[10] == ","


def test_nt_gold_alignment_of_matthew_1_1_read_by_hand():
    # Records 40001001.001-.008 of SBLGNT-BSB-manual.json: Greek word n400010010WW links
    # to BSB tokens 40001001TTT; e.g. Βίβλος -> "This is the record", υἱοῦ -> "the son".
    expected = {
        (0, 0), (0, 1), (0, 2), (0, 3),  # Βίβλος -> This is the record
        (1, 4), (1, 5), (1, 6),  # γενέσεως -> of the genealogy
        (2, 7), (2, 8),  # Ἰησοῦ -> of Jesus
        (3, 9),  # χριστοῦ -> Christ
        (4, 11), (4, 12),  # υἱοῦ -> the son
        (5, 13), (5, 14),  # Δαυὶδ -> of David
        (6, 16), (6, 17),  # υἱοῦ -> the son
        (7, 18), (7, 19),  # Ἀβραάμ -> of Abraham
    }
    c = load_corpus("nt_el_en")
    assert c.alignments["40001001"] == expected
    (pair,) = [p for p in c.splits["test"] if p.key == "40001001"]
    assert [pair.tgt_tokens[e] for g, e in sorted(expected) if g == 5] == ["of", "David"]


def test_english_grouped_by_greek_verse_numbering():
    # BSB Acts 19:41 belongs to Greek verse 19:40, so it joins that pair's English side
    c = load_corpus("nt_el_en")
    pairs = {p.key: p for s in SPLITS for p in c.splits[s]}
    assert "44019041" not in pairs
    assert pairs["44019040"].tgt.endswith("After he had said this, he dismissed the assembly.")


def test_detokenize_respects_skip_space_after():
    assert bible.detokenize(["He", "said", ",", "“", "Go", "!", "”"],
                            [False, True, False, True, True, True, False]) == 'He said, “Go!”'


# --- bsb_en ---------------------------------------------------------------------------

def test_bsb_counts_and_chapter_split():
    c = load_corpus("bsb_en")
    assert c.split_sizes() == {"train": 27966, "dev": 1686, "test": 1550}
    chapters = {s: {k[:5] for k, _ in c.splits[s]} for s in SPLITS}
    assert not (chapters["train"] & chapters["dev"] or chapters["train"] & chapters["test"]
                or chapters["dev"] & chapters["test"])
    assert sum(len(v) for v in chapters.values()) == 1189  # every chapter of OT + NT
    ordered = sorted(set().union(*chapters.values()))
    assert sorted(chapters["test"]) == ordered[0::20]
    total = sum(len(c.text(s)) for s in SPLITS)
    assert 3_800_000 < total < 3_900_000
    assert c.splits["test"][0] == ("01001001", "In the beginning God created the heavens "
                                   "and the earth.")


# --- numbers --------------------------------------------------------------------------

def test_numbers_deterministic_disjoint_and_in_length_window():
    a = load_numbers(size=600, min_words=2, max_words=6, max_digits=5, seed=3)
    b = load_numbers(size=600, min_words=2, max_words=6, max_digits=5, seed=3)
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != load_numbers(size=600, min_words=2, max_words=6,
                                            max_digits=5, seed=4).content_hash()
    keys = [k for s in SPLITS for k in keys_of(a, s)]
    assert len(keys) == len(set(keys)) == 600
    for s in SPLITS:
        assert all(numbers.split_of(int(k)) == s for k in keys_of(a, s))
    assert all(2 <= numbers.english_words(p.src) <= 6 for s in SPLITS for p in a.splits[s])


def test_numbers_german_swaps_units_and_tens():
    assert numbers.english_words("one hundred and twenty-one") == 5
    c = load_numbers(size=3000, min_words=1, max_words=4, max_digits=3, seed=0)
    by_key = {p.key: p for s in SPLITS for p in c.splits[s]}
    assert by_key["21"].src == "twenty-one" and by_key["21"].tgt == "einundzwanzig"


def test_numbers_reach_past_forty_words_counted_as_src_tokens():
    c = load_numbers(size=40, min_words=41, max_words=48, max_digits=24, seed=0)
    pairs = [p for s in SPLITS for p in c.splits[s]]
    assert len(pairs) == 40
    for p in pairs:
        assert len(p.src_tokens) == numbers.english_words(p.src) and 41 <= len(p.src_tokens) <= 48
        assert "-" not in " ".join(p.src_tokens) and len(p.key) >= 19  # quintillions and beyond
    with pytest.raises(SeqlabError, match="max_digits"):
        load_numbers(size=10, max_digits=25)


def test_numbers_even_width_fills_every_band_equally():
    c = load_numbers(size=300, min_words=1, max_words=30, max_digits=12, seed=0, even_width=10)
    bands = [(len(p.src_tokens) - 1) // 10 for s in SPLITS for p in c.splits[s]]
    assert [bands.count(b) for b in range(3)] == [100, 100, 100]
    plain = load_numbers(size=300, min_words=1, max_words=30, max_digits=12, seed=0)
    assert plain.content_hash() != c.content_hash()


def test_numbers_small_window_returns_what_exists():
    c = load_numbers(size=1000, min_words=1, max_words=1, max_digits=2, seed=0)
    assert sum(c.split_sizes().values()) == 9 + 10 + 8  # one..nine, ten..nineteen, tens


def test_numbers_rejects_bad_arguments():
    with pytest.raises(SeqlabError, match="min_words"):
        load_numbers(size=10, min_words=5, max_words=2)


# --- time series and classification ---------------------------------------------------

@pytest.mark.parametrize("name, steps, period", [
    ("co2", 526, 12), ("sunspots", 309, 11), ("nile", 100, 1), ("elnino", 732, 12),
    ("macrodata", 203, 4),
])
def test_series_chronological_split(name, steps, period):
    c = load_corpus(name)
    assert len(c.values) == steps and c.period == period
    assert np.isfinite(c.values).all()
    (a0, a1), (b0, b1), (t0, t1) = (c.bounds[s] for s in SPLITS)
    assert a0 == 0 and a1 == b0 and b1 == t0 and t1 == steps  # contiguous, in time order
    assert t1 - t0 == round(0.2 * steps)


def needs_sktime():
    """The classification sets ship inside sktime, an optional extra: skip (with the reason) without it."""
    pytest.importorskip("sktime.datasets", reason="sktime is not installed (pip install sktime)")


def test_japanese_vowels_official_split():
    needs_sktime()
    c = load_corpus("japanese_vowels")
    assert c.split_sizes() == {"train": 270, "test": 370}
    assert c.num_channels == 12 and len(c.classes) == 9
    lengths = [len(x) for xs, _ in c.splits.values() for x in xs]
    assert min(lengths) == 7 and max(lengths) == 29
    assert all(np.isfinite(x).all() for xs, _ in c.splits.values() for x in xs)
    assert np.bincount(c.splits["train"][1]).tolist() == [30] * 9


def test_gunpoint_official_split():
    needs_sktime()
    c = load_corpus("gunpoint")
    assert c.split_sizes() == {"train": 50, "test": 150}
    assert c.splits["train"][0][0].shape == (150, 1) and len(c.classes) == 2


# --- missing packages -----------------------------------------------------------------

def test_missing_bible_package_names_the_pip_command(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(base.metadata, "distribution", not_installed)
    with pytest.raises(MissingDependencyError) as err:
        bible.load_nt_el_en()
    msg = str(err.value)
    assert "\n" not in msg and "pip install --no-deps" in msg and "bible-alignments==0.4.2" in msg


@pytest.mark.parametrize("module, call, install", [
    ("num2words", lambda: load_numbers(size=5), "pip install num2words"),
    ("statsmodels.datasets", lambda: load_corpus.__wrapped__("nile"), "pip install statsmodels"),
    ("sktime.datasets", lambda: load_corpus.__wrapped__("gunpoint"), "pip install sktime"),
])
def test_missing_module_names_the_pip_command(monkeypatch, module, call, install):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError, match=install):
        call()


def test_unknown_corpus():
    with pytest.raises(SeqlabError, match="nt_el_en"):
        load_corpus("klingon")


# --- CLI ------------------------------------------------------------------------------

def run_cli(argv, capsys):
    parser = argparse.ArgumentParser()
    data_cli.add_arguments(parser, "data")
    assert data_cli.run(parser.parse_args(argv)) == 0
    return capsys.readouterr().out


def test_cli_list_info_show(capsys):
    assert "nt_el_en" in run_cli(["list"], capsys)
    out = run_cli(["info", "nt_el_en"], capsys)
    assert "CC-BY-4.0" in out and "public domain" in out and "a6a62b1cf9c49b6e" in out
    out = run_cli(["show", "nt_el_en", "-n", "1", "--split", "test"], capsys)
    assert "Βίβλος γενέσεως" in out and "Abraham:" in out
