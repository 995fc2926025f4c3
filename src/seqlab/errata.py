"""The chapter's errata: where it is wrong or inconsistent, what is true, and which entry shows it.

Data, not markup: the report renders it as its "Errata and corrections" section and the
docs can list it too. ``says`` quotes the chapter word for word; ``true`` and ``shown_by``
are the toolkit's own. Torch-free (the report imports it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Erratum:
    """One place the chapter is wrong: where, what it says (verbatim), what is true, which claims show it."""

    where: str
    says: str
    true: str
    shown_by: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        "Bahdanau attention, the worked example (bahdanau-mini.txt)",
        "Softmax -> attention: [0.82, 0.09, 0.09]",
        "softmax([2.1, 0.2, 0.1]) = [0.778, 0.116, 0.105] (to 3 places); no single temperature gives the "
        "printed weights exactly.",
        ("C21",)),
    Erratum(
        "Bahdanau attention, the worked example (bahdanau-mini.txt)",
        "Alignment scores (dot products): [2.1, 0.2, 0.1]",
        "Bahdanau's alignment model is additive, v^T tanh(W s_{i-1} + U h_j), not a dot product; dot-product "
        "scores are Luong's simplification, introduced in the next section.",
        ("C14", "C21")),
    Erratum(
        "Why CNNs didn't win",
        "receptive field grows logarithmically with depth",
        "With dilations 1, 2, 4, ... the receptive field grows exponentially with depth (2^L with kernel 2): "
        "it is the number of layers needed that grows logarithmically with the distance, as the chapter's own "
        "\"~9 layers\" for 512 tokens implies.",
        ("C17", "C29")),
    Erratum(
        "Weight initialisation, the forget-gate bias snippet (orthogonal_init.py)",
        "# Set forget gate bias to 1.0 (encourages remembering)",
        "The snippet then sets both lstm.bias_ih_l0[128:256] and lstm.bias_hh_l0[128:256] to 1.0; PyTorch adds "
        "the two biases, so the effective forget-gate bias is 2.0, not 1.0 (the table's \"1-2\" covers both).",
        ("C7",)),
    Erratum(
        "Real-world failure examples, the failure table",
        "Initial negative words dominate if final context is lost",
        "The sentiment row blames early words for dominating, while the summarisation row (\"By the end, "
        "information from the beginning has decayed\") and the recency argument blame early words for fading: "
        "a recurrent net that loses context loses the *early* words, so the late \"amazing\" should win. The "
        "table's rows cannot both hold for one model; the ledger tests the recency version.",
        ("C19", "C30", "C37")),
    Erratum(
        "Initialization strategies for RNNs, the table",
        "W^T W = I (eigenvalues = 1)",
        "W^T W = I makes every *singular value* 1; the eigenvalues of an orthogonal matrix have modulus 1 but "
        "are in general complex (e^{i theta}), not 1. It is the singular values that preserve the gradient norm.",
        ("C24", "C6")),
)


def errata() -> list[dict]:
    """The errata as plain dicts (for JSON, docs and the report)."""
    return [e.to_dict() for e in ERRATA]
