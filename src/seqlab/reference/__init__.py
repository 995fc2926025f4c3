"""NumPy reference implementations with hand-written backpropagation through time.

Float64, no autograd: every derivative is written out, one equation per line, so the
code can be read next to the chapter and checked against finite differences and
torch autograd (see :mod:`seqlab.reference.gradcheck`). Weights use torch's names,
gate orders and shapes, so ``Recurrent.load_state_dict(torch_module.state_dict())`` works.

- ``rnn``, ``lstm``, ``gru``: one step forward and backward (``step_forward``/``step_backward``).
- ``recurrent.Recurrent``: stacked layers over time, ``forward`` and ``backward`` (BPTT).
  Parameters and gradients are kept per layer under the equations' names (``W_ih``,
  ``W_hh``, ``b_ih``, ``b_hh``); ``torch_named`` converts such a list to torch's names
  (``weight_ih_l0``, ...), as ``state_dict`` does for the parameters.
- ``attention``: additive (Bahdanau) attention forward/backward.
- ``clip``: gradient clipping by global norm.
"""

from seqlab.reference import attention, gru, lstm, rnn
from seqlab.reference.clip import clip_by_global_norm, global_norm
from seqlab.reference.recurrent import CELLS, Recurrent, torch_named

__all__ = [
    "CELLS",
    "Recurrent",
    "attention",
    "clip_by_global_norm",
    "global_norm",
    "gru",
    "lstm",
    "rnn",
    "torch_named",
]
