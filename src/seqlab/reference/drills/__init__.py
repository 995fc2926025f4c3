"""The chapter's hands-on drills, run on the NumPy reference implementations.

Each drill module defines ``run(out_dir, seed) -> dict`` (writes JSON, and a PNG where
there is a plot) and ``summary(result) -> str`` (the terminal report).
``seqlab drill NAME`` runs them; ``DRILLS`` lists them.
"""

# drill name -> (module in seqlab.reference.drills, one-line help)
DRILLS: dict[str, tuple[str, str]] = {
    "rnn-numpy": ("decay", "two-layer tanh RNN on a toy sequence: hidden states, where "
                           "information decays"),
    "clipping": ("clipping", "train the NumPy RNN from a large init with and without "
                             "gradient clipping"),
    "bahdanau": ("bahdanau", "additive attention, 3-token source, 2-token target: the weights"),
    "gradcheck": ("gradcheck", "hand-written backward passes vs finite differences and torch"),
}
