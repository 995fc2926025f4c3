"""What the ledger holds, readable without running or importing anything heavy.

The claims list (``seqlab reproduce --list``) and the report's grouping both come from
here: for every claim its chapter section, the chapter's words it tests (a module's
``QUOTE``, else its ``CLAIM``), and whether it runs on real data or on a controlled task.
Claim texts are read from the modules' source with :mod:`ast` (module-level string
constants), so listing the ledger never imports torch. Also here: one or two sentences on
what each section of the chapter argues, and what the chapter names but the ledger does
not test (:data:`NOT_COVERED`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from seqlab.experiments.registry import REGISTRY, SECTIONS

HERE = Path(__file__).parent

# section package -> what that section of the chapter argues (our words)
ARGUES: dict[str, str] = {
    "problem": "Order carries meaning, so a model must read context; static word vectors give one vector per "
               "word whatever the context, and the failures of pre-Transformer systems share one pattern: the "
               "deciding information sits far from where it is needed.",
    "recurrent": "A recurrent network reads one token at a time and carries a hidden state forward; the same "
                 "weights at every step make it length-agnostic, and sequential by construction.",
    "gradients": "Backpropagation through time multiplies one Jacobian per step, so gradients shrink or grow "
                 "geometrically with distance; clipping, careful initialisation and truncation tame the symptoms "
                 "without removing the cause.",
    "gates": "Gates give the cell state an additive path, so LSTMs and GRUs carry information over far longer "
             "spans than a tanh RNN; the GRU does so with fewer gates.",
    "limitations": "Even gated networks use a limited effective context, need two passes for bidirectional "
                   "context and still cannot run in parallel over time.",
    "bottleneck": "An encoder-decoder squeezes the whole source into one fixed-size vector, and quality falls as "
                  "sources grow longer than that vector can hold.",
    "attention": "Attention lets the decoder look back at every source state through learned weights: cheap dot "
                 "scores work about as well as additive ones, and the weights read as alignments.",
    "transformer": "Dropping recurrence entirely leaves attention, which computes every position at once: the "
                   "step from attention-RNNs to the Transformer.",
    "drills": "The chapter's hands-on exercises, run end to end on small models.",
}

# claim id -> the data it runs on, in the profile that decides ("real: ..." or "controlled: ...")
DATA: dict[str, str] = {
    **{cid: "controlled: synthetic task or measurement" for cid in REGISTRY},
    "C9": "real: BSB English text (LM context) and controlled recall",
    "C12": "controlled (quick) / real (full): numbers corpus, num2words",
    "C13": "controlled (quick) / real (full): NT Greek-English, human alignments",
    "C14": "controlled (quick) / real (full): numbers corpus, num2words",
    "C18": "real: BSB English text",
    "C37": "controlled: templates over real BSB vocabulary",
    "C38": "controlled: the C26 and C8 tasks",
    "C39": "real: BSB English text",
    "C40": "controlled: timing of score functions",
    "C41": "real: Greek NT with its word-level part-of-speech tags",
    "C42": "real: BSB English text",
}

# what the chapter names as the next step but the ledger leaves untested: (name, why)
NOT_COVERED: list[tuple[str, str]] = [
    ("Memory Networks (Weston, 2014)", "named by the chapter as a road not taken; it makes no measurable claim "
     "about them beyond their history, and seqlab has no external-memory model to test one on."),
    ("Neural Turing Machines (Graves, 2014)", "described only as a differentiable tape with read/write heads that "
     "was hard to train and scale; no number or comparison to reproduce."),
    ("Differentiable Neural Computers (Graves, 2016)", "mentioned as more sophisticated memory management, with "
     "no claim beyond that; testing 'hard to scale' would need models far outside the chapter's scope."),
]


@dataclass(frozen=True)
class Entry:
    """One line of the claims list."""

    claim_id: str
    section: str
    text: str  # the chapter's words (QUOTE) or the claim in our words (CLAIM)
    quoted: bool  # text is the chapter's own sentence
    data: str


def module_path(claim_id: str) -> Path:
    return HERE.joinpath(*REGISTRY[claim_id].split(".")).with_suffix(".py")


def constants(path: Path, names=("CLAIM", "QUOTE")) -> dict[str, str]:
    """Module-level string constants of a source file, read without importing it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in names and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                out[name] = node.value.value
    return out


def entry(claim_id: str) -> Entry:
    found = constants(module_path(claim_id))
    quoted = "QUOTE" in found
    return Entry(claim_id, SECTIONS[REGISTRY[claim_id].split(".")[0]], found.get("QUOTE", found.get("CLAIM", "")),
                 quoted, DATA[claim_id])


def entries() -> list[Entry]:
    """Every claim, in registry order."""
    return [entry(cid) for cid in REGISTRY]


def by_section(claim_ids) -> list[tuple[str, str, list[str]]]:
    """(section title, what it argues, the given claim ids in it), in the chapter's order; empty sections left out."""
    ids = list(claim_ids)
    out = []
    for package, title in SECTIONS.items():
        mine = [c for c in ids if c in REGISTRY and REGISTRY[c].split(".")[0] == package]
        if mine:
            out.append((title, ARGUES[package], mine))
    return out


def shorten(text: str, width: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def listing(width: int = 110) -> str:
    """The claims list as plain text: per section, each id with its data kind and its sentence."""
    lines = []
    for title, _, ids in by_section(REGISTRY):
        lines.append(title)
        for cid in ids:
            e = entry(cid)
            kind = e.data.split(":")[0]
            said = f'chapter: "{shorten(e.text, width)}"' if e.quoted else f"claim: {shorten(e.text, width)}"
            lines.append(f"  {cid:<4} [{kind}] {said}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
