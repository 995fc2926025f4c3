"""Static (skip-gram) versus contextual (BiLSTM LM) word vectors on bsb_en: claim C18."""

from seqlab.embeddings.compare import (
    Comparison, EmbedSettings, Occurrence, compare_word, format_comparison,
)
from seqlab.embeddings.contextual import BiLM, StreamLM, train_bilm
from seqlab.embeddings.static import StaticVectors, train_static
from seqlab.embeddings.words import WordVocab, words

__all__ = ["BiLM", "Comparison", "EmbedSettings", "Occurrence", "StaticVectors", "StreamLM",
           "WordVocab", "compare_word", "format_comparison", "train_bilm", "train_static",
           "words"]
