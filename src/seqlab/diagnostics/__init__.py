"""Gradient-flow, Jacobian, saturation and orthogonality probes for any torch model.

Models mapping (B, T, D) inputs work as they are; recurrent layers (torch.nn.LSTM
calling convention) are unrolled one step at a time so that each hidden state h_t
is a tensor of its own (see ``stepwise``). Plots live in ``plots`` (no torch).
"""

from seqlab.diagnostics.callbacks import DiagnosticsCallback
from seqlab.diagnostics.gradflow import (
    hidden_gradient_norms,
    hidden_sensitivity,
    input_gradient_norms,
    jacobian_norms,
    output_gradient_norms,
)
from seqlab.diagnostics.orthogonality import orthogonality_drift, recurrent_drift
from seqlab.diagnostics.saturation import (
    SaturationProbe,
    hidden_saturation,
    sigmoid_derivative_from_activation,
    tanh_derivative_from_activation,
)

__all__ = [
    "DiagnosticsCallback",
    "SaturationProbe",
    "hidden_gradient_norms",
    "hidden_saturation",
    "hidden_sensitivity",
    "input_gradient_norms",
    "jacobian_norms",
    "orthogonality_drift",
    "output_gradient_norms",
    "recurrent_drift",
    "sigmoid_derivative_from_activation",
    "tanh_derivative_from_activation",
]
