"""A small synthetic set of Results for the report tests (no torch, fast)."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from seqlab.experiments.core.base import finish, new_result  # noqa: E402
from seqlab.experiments.core.rules import Margin  # noqa: E402

HOSTILE = '<script>window.__pwned = 1; console.error("injected")</script> & "quotes" <b>bold</b>'


def tiny_png() -> bytes:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.semilogy([1, 2, 3], [1.0, 0.1, 0.01])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    plt.close(fig)
    return buf.getvalue()


def make_run(folder):
    """Three claim folders: confirmed with a figure, refuted with corpus text, and an error."""
    a = new_result("C1", "gradients fade with distance", "toy setup", "quick", {"T": [10, 20]})
    a.add_table("norms", ["arch", "ratio"], [["rnn", 1.2e-7], ["lstm", 0.31]])
    a.add_figure("flow", "a log-scale curve", tiny_png())
    finish(a, "confirmed", "ratio < 1e-3", "rnn ratio 1.2e-07", "rnn ratio 1.2e-07",
           margins=[Margin("rnn ratio", 1.2e-7, 1e-3, "gradient ratio", noise=1e-8),
                    Margin("lstm ratio", 0.31, 0.1, "gradient ratio", noise=0.02)]).save(folder / "C1")
    b = new_result("C4", f"corpus text: {HOSTILE}", f"setup {HOSTILE}", "quick", {"text": HOSTILE})
    b.add_table(f"table {HOSTILE}", ["source", "score"], [[HOSTILE, 0.5]])
    b.notes.append(HOSTILE)
    finish(b, "refuted", "rule", "numbers", f"head {HOSTILE}").save(folder / "C4")
    c = new_result("C9", "an experiment that failed", "", "quick", {})
    c.error = f"Traceback ...\nRuntimeError: {HOSTILE}"
    finish(c, "error", "", "", "error: RuntimeError").save(folder / "C9")
