"""Truncated backpropagation through time, TBPTT(k1, k2), for any stateful model.

Every k1 steps the parameters are updated from the losses of those k1 steps, with the
gradient flowing back k2 steps from the current time t (Williams & Peng 1990). Each
update window therefore covers steps [t - k2, t): it starts from the *detached*
state at t - k2 (the cut) and scores only the last k1 steps. With k2 = k1 the windows
tile the sequence; with k2 > k1 they overlap and the overlap is recomputed, so memory
holds the graph of k2 steps and never of the whole sequence.

The model follows the backbone convention ``model(x, state) -> (out, state)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from seqlab.data.batch import SeqBatch


@dataclass(frozen=True)
class Window:
    """One update: run steps [start, stop), score [score_from, stop).

    ``save_at`` is where the next window starts; the detached state there is kept.
    """

    start: int
    stop: int
    score_from: int
    save_at: int


def plan_windows(T: int, k1: int, k2: int) -> list[Window]:
    """The windows of TBPTT(k1, k2) over T steps. Requires 1 <= k1 <= k2."""
    if not 1 <= k1 <= k2:
        raise ValueError(f"truncated BPTT needs 1 <= k1 <= k2, got k1={k1}, k2={k2}")
    stops = list(range(k1, T, k1)) + [T]
    windows = []
    for i, stop in enumerate(stops):
        nxt = stops[i + 1] if i + 1 < len(stops) else T
        windows.append(
            Window(
                start=max(0, stop - k2),
                stop=stop,
                score_from=stops[i - 1] if i else 0,
                save_at=max(0, nxt - k2),
            )
        )
    return windows


def state_to(state, device):
    """A carried recurrent state (a tensor, a tuple of them, or None) moved to ``device``, detached."""
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else state.detach().to(device)
    return tuple(state_to(s, device) for s in state)


def detach_state(state):
    """Cut the graph: the same state values, no history (tensor, tuple or None)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


LossFn = Callable[[torch.Tensor, SeqBatch], tuple[torch.Tensor, dict]]


def tbptt_windows(
    model: Callable,
    batch: SeqBatch,
    k1: int,
    k2: int,
    loss_fn: LossFn,
    state=None,
) -> Iterator[tuple[torch.Tensor, dict, object]]:
    """Yield (loss, metrics, final_state) per window; the caller backprops and steps.

    ``loss_fn(out, batch)`` scores a time slice. ``state`` is the (detached) state
    entering step 0. The final element's state is the detached state after step T.
    """
    T = batch.num_steps
    states = {0: detach_state(state)}  # detached states at window starts
    for w in plan_windows(T, k1, k2):
        h = states[w.start]
        if w.start < w.save_at < w.stop:  # the next window begins inside this one
            out_a, h = model(batch.x[:, w.start : w.save_at], h)
            states[w.save_at] = detach_state(h)
            out_b, h = model(batch.x[:, w.save_at : w.stop], h)
            out = torch.cat([out_a, out_b], dim=1)  # (B, stop - start, O)
        else:
            out, h = model(batch.x[:, w.start : w.stop], h)
            if w.save_at == w.stop:
                states[w.stop] = detach_state(h)
        out = out[:, w.score_from - w.start :]  # (B, stop - score_from, O): the scored steps
        loss, metrics = loss_fn(out, batch.time_slice(w.score_from, w.stop))
        yield loss, metrics, detach_state(h)
