"""Tokenizers: the shared special ids, hand-worked encodings, the on-disk cache, and
exact decode(encode(x)) == x over every dev set of every text corpus."""

from __future__ import annotations

import pytest

from seqlab.data import tokenize
from seqlab.data.corpora import load_corpus, load_numbers
from seqlab.data.tokenize import (
    BOS, BYTE_OFFSET, EOS, FIRST_SYMBOL, PAD, SPECIALS, UNK, CharTokenizer, WordTokenizer,
    load_tokenizer, train_tokenizer,
)
from seqlab.errors import SeqlabError

SP_TRAIN_LINES = 1500  # sentencepiece trains on the head of the train split: fast tests
SP_VOCAB = 520


def dev_sets():
    """(label, train texts, dev texts) for every side of every text corpus."""
    nt = load_corpus("nt_el_en")
    nums = load_numbers(size=3000, seed=0)
    bsb = load_corpus("bsb_en")
    return [
        ("nt_el_en/el", nt.texts("train", "src"), nt.texts("dev", "src")),
        ("nt_el_en/en", nt.texts("train", "tgt"), nt.texts("dev", "tgt")),
        ("numbers/en", nums.texts("train", "src"), nums.texts("dev", "src")),
        ("numbers/de", nums.texts("train", "tgt"), nums.texts("dev", "tgt")),
        ("bsb_en", bsb.texts("train"), [bsb.text("dev")]),  # the dev stream, newlines too
    ]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("seqlab-cache")


@pytest.mark.parametrize("kind", ["char", "word", "unigram", "bpe"])
def test_round_trip_over_every_dev_set(kind, cache):
    for label, train, dev in dev_sets():
        if kind in ("unigram", "bpe"):
            tok = train_tokenizer(kind, train[:SP_TRAIN_LINES], SP_VOCAB, cache_dir=cache)
        else:
            tok = train_tokenizer(kind, train, None, cache_dir=cache)
        for text in dev:
            ids = tok.encode(text, bos=True, eos=True)
            assert ids[0] == BOS and ids[-1] == EOS
            assert min(ids[1:-1]) >= BYTE_OFFSET and max(ids) < tok.vocab_size, label
            assert tok.decode(ids) == text, (label, text[:60])


def test_special_ids_are_shared(cache):
    assert (PAD, BOS, EOS, UNK, BYTE_OFFSET, FIRST_SYMBOL) == (0, 1, 2, 3, 4, 260)
    train = load_corpus("nt_el_en").texts("train", "tgt")[:SP_TRAIN_LINES]
    for kind in ("char", "word", "unigram", "bpe"):
        tok = train_tokenizer(kind, train, SP_VOCAB, cache_dir=cache)
        assert [tok.id_to_piece(i) for i in range(4)] == list(SPECIALS)
        assert tok.id_to_piece(BYTE_OFFSET) == "<0x00>"
        assert tok.id_to_piece(BYTE_OFFSET + 0x41) == "<0x41>"


def test_char_tokenizer_hand_worked(tmp_path):
    tok = CharTokenizer.fit(["abca", "b"], None, tmp_path)
    assert tok.symbols == ["a", "b", "c"] and tok.vocab_size == 263
    # unseen "!" (0x21) and "é" (0xC3 0xA9) fall back to their UTF-8 bytes
    assert tok.encode("cab!é") == [262, 260, 261, 4 + 0x21, 4 + 0xC3, 4 + 0xA9]
    assert tok.decode([1, 262, 0, 260, 2]) == "ca"  # specials are dropped
    assert tok.decode([4 + 0xC3]) == "\ufffd"  # a cut-off byte run cannot crash decoding


def test_char_vocab_size_keeps_the_most_frequent(tmp_path):
    tok = CharTokenizer.fit(["aaab", "bbc"], FIRST_SYMBOL + 2, tmp_path)
    assert tok.symbols == ["a", "b"]
    assert tok.encode("c") == [BYTE_OFFSET + ord("c")]


def test_word_pieces_keep_their_spaces():
    text = "He said, “Go!”\n  Then"
    pieces = WordTokenizer.split(text)
    assert pieces == ["He", " said", ",", " “", "Go", "!", "”", "\n", " ", " Then"]
    assert "".join(pieces) == text


def test_cache_reuses_and_keys_by_data_and_settings(cache, monkeypatch):
    texts = ["one two three", "two three", "three"]
    first = train_tokenizer("word", texts, None, cache_dir=cache)

    def no_refit(*args):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(WordTokenizer, "fit", no_refit)
    again = train_tokenizer("word", texts, None, cache_dir=cache)
    assert again.symbols == first.symbols
    with pytest.raises(AssertionError):  # other data: a new key
        train_tokenizer("word", texts + ["four"], None, cache_dir=cache)
    with pytest.raises(AssertionError):  # other settings: a new key
        train_tokenizer("word", texts, 300, cache_dir=cache)


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
    assert tokenize.cache_root() == tmp_path
    train_tokenizer("char", ["xyz"])
    (folder,) = (tmp_path / "tokenizers").iterdir()
    assert folder.name.startswith("char-")
    assert load_tokenizer(folder).encode("zyx") == [262, 261, 260]


def test_bad_requests_fail_with_one_line(cache):
    with pytest.raises(SeqlabError, match="unknown tokenizer"):
        train_tokenizer("morpheme", ["a"], cache_dir=cache)
    with pytest.raises(SeqlabError, match="vocab_size"):
        train_tokenizer("bpe", ["a b"], 100, cache_dir=cache)


def test_piece_surface_reads_byte_pieces_as_text():
    from seqlab.data.tokenize import piece_surface

    assert piece_surface("<0x2C>") == "," and piece_surface("<0xCE>") == piece_surface("<0x00>") == "\ufffd"
    assert piece_surface("\u2581λόγος") == "\u2581λόγος" and piece_surface("<unk>") == "<unk>"
