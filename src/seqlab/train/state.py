"""What a checkpoint holds of a trainer besides the weights, and putting it back.

Exact resume needs every piece of state the next step reads: the optimizer and scheduler,
the step and update counts, early stopping's best score, the history of evaluations, the
RNG states, a stateful task's carried hidden state, the clocks; and the recipe the run was
trained with (as JSON text), so that a resume can be checked against it.
"""

from __future__ import annotations

import json

from seqlab.train import checkpoint as ckpt
from seqlab.train.rng import rng_state, set_rng_state
from seqlab.train.tbptt import state_to


def trainer_state(trainer) -> dict:
    """The trainer's state as tensors, numbers and text (``torch.load(weights_only=True)`` reads it)."""
    state = {
        "step": trainer.step, "updates": trainer.updates, "best": trainer.best, "bad_evals": trainer.bad_evals,
        "optimizer": trainer.opt.state_dict(), "scheduler": trainer.sched.state_dict(),
        "rng": rng_state(), "carry": state_to(trainer.carry, "cpu"), "history": trainer.history,
        "last_grad_norm": trainer.last_grad_norm, "elapsed": trainer.elapsed, "train_seconds": trainer.train_seconds,
        "targets": trainer.targets,
    }
    if trainer.recipe_text is not None:
        state["recipe"] = trainer.recipe_text
    return state


def restore_trainer(trainer, state: dict) -> None:
    """Put ``state`` (from ``trainer_state``) back into ``trainer``; its recipe goes to
    ``trainer.checkpoint_recipe`` (None for a checkpoint of an older seqlab)."""
    trainer.opt.load_state_dict(state["optimizer"])
    trainer.sched.load_state_dict(state["scheduler"])
    trainer.step, trainer.updates = state["step"], state["updates"]
    trainer.best, trainer.bad_evals = state["best"], state["bad_evals"]
    trainer.history, trainer.last_grad_norm = list(state["history"]), state["last_grad_norm"]
    trainer.elapsed, trainer.train_seconds = state.get("elapsed", 0.0), state.get("train_seconds", 0.0)
    trainer.targets = state.get("targets", 0)
    trainer.carry = state_to(state["carry"], trainer.device)
    set_rng_state(state["rng"])
    trainer.checkpoint_recipe = json.loads(state["recipe"]) if isinstance(state.get("recipe"), str) else None
