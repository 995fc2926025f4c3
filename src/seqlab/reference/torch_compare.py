"""Compare the NumPy reference with torch.nn.RNN/LSTM/GRU (float64) on the same weights.

The forward outputs and final states must agree, and the hand-written BPTT gradients
must agree with torch autograd for the same projected loss as in ``gradcheck``. torch is
imported inside the functions: the reference package itself never needs it.
"""

from __future__ import annotations

import numpy as np

from seqlab.reference import attention
from seqlab.reference.gradcheck import (
    analytic_recurrent,
    relative_error,
    toy_attention,
    toy_recurrent,
)
from seqlab.reference.recurrent import Recurrent


def torch_twin(model: Recurrent):
    """A float64 torch.nn.RNN/LSTM/GRU (batch_first) holding the model's weights."""
    import torch

    classes = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    net = classes[model.kind](model.input_size, model.hidden_size, model.num_layers,
                              batch_first=True, dtype=torch.float64)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return net


def _torch_state(state0, requires_grad: bool):
    """Per-layer tuples -> torch's h0 (L, B, H), or (h0, c0) when the state has a cell."""
    import torch

    stacked = [torch.tensor(np.stack([s[i] for s in state0]), requires_grad=requires_grad)
               for i in range(len(state0[0]))]  # each (L, B, H)
    return tuple(stacked) if len(stacked) == 2 else stacked[0]


def compare_with_torch(kind: str, num_layers: int, seed: int = 0) -> dict[str, float]:
    """Relative errors reference vs torch: ``out``, final states, then every gradient."""
    import torch

    model, x, state0, r_out, r_final = toy_recurrent(kind, num_layers, seed)
    net = torch_twin(model)
    xt = torch.tensor(x, requires_grad=True)
    st0 = _torch_state(state0, requires_grad=True)
    out_t, final_t = net(xt, st0)
    finals_t = final_t if isinstance(final_t, tuple) else (final_t,)  # each (L, B, H)
    r_final_t = [torch.from_numpy(np.stack([r[i] for r in r_final])) for i in range(len(finals_t))]
    loss = (out_t * torch.from_numpy(r_out)).sum()
    loss = loss + sum((a * r).sum() for a, r in zip(finals_t, r_final_t))
    loss.backward()

    out, finals, _ = model.forward(x, state0)
    errors = {"out": relative_error(out, out_t.detach().numpy())}
    for i, name in enumerate(model.cell.STATE_NAMES):
        mine = np.stack([s[i] for s in finals])  # (L, B, H)
        errors[f"{name}_n"] = relative_error(mine, finals_t[i].detach().numpy())

    analytic = analytic_recurrent(model, x, state0, r_out, r_final)
    torch_grads = {k: v.grad.numpy() for k, v in net.named_parameters()}
    torch_grads["input"] = xt.grad.numpy()
    st0_list = st0 if isinstance(st0, tuple) else (st0,)
    for i, name in enumerate(model.cell.STATE_NAMES):
        for layer in range(num_layers):
            torch_grads[f"{name}0_l{layer}"] = st0_list[i].grad.numpy()[layer]
    errors.update({f"grad {k}": relative_error(analytic[k], g) for k, g in torch_grads.items()})
    return errors


def compare_attention_with_torch(seed: int = 0) -> dict[str, float]:
    """Additive attention: context, weights and all gradients vs torch autograd."""
    import torch

    p, h, s, r_c, r_alpha = toy_attention(seed)
    c, alpha, cache = attention.forward(h, s, p)
    dh, ds, grads = attention.backward(r_c, cache, p, dalpha=r_alpha)

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    th, ts = torch.tensor(h, requires_grad=True), torch.tensor(s, requires_grad=True)
    u = torch.tanh(th @ tp["W1"].T + (ts @ tp["W2"].T)[:, None, :])  # (B, S, A)
    alpha_t = torch.softmax(u @ tp["v"], dim=1)  # (B, S)
    c_t = torch.einsum("bs,bsk->bk", alpha_t, th)  # (B, Hk)
    ((c_t * torch.from_numpy(r_c)).sum() + (alpha_t * torch.from_numpy(r_alpha)).sum()).backward()

    errors = {"context": relative_error(c, c_t.detach().numpy()),
              "alpha": relative_error(alpha, alpha_t.detach().numpy())}
    errors.update({f"grad {k}": relative_error(grads[k], tp[k].grad.numpy()) for k in p})
    errors["grad h"] = relative_error(dh, th.grad.numpy())
    errors["grad s"] = relative_error(ds, ts.grad.numpy())
    return errors
