"""A training recipe: one config file naming a task, a model and how to train it.

```toml
out = "runs/adding-lstm"      # optional; default runs/<file stem>
[task]
name = "adding"               # a name from TASKS below (synthetic tasks, "lm")
length = 100                  # the task's own fields
[model]                       # seqlab.build.ModelConfig
arch = "lstm"
[train]                       # seqlab.train.TrainConfig
steps = 2000
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.build import ModelConfig
from seqlab.config import apply_overrides, from_dict, load_file
from seqlab.data.lm import CorpusLM
from seqlab.data.tasks import TASKS as SYNTHETIC
from seqlab.errors import ConfigError
from seqlab.train.config import TrainConfig

# task name -> config class: the synthetic tasks and language modeling on a corpus.
TASKS = {**SYNTHETIC, "lm": CorpusLM}


@dataclass(frozen=True)
class Recipe:
    task: Any
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out: str | None = None

    def to_dict(self) -> dict:
        task = {"name": task_name(self.task), **dataclasses.asdict(self.task)}
        return {"out": self.out, "task": task, "model": dataclasses.asdict(self.model),
                "train": dataclasses.asdict(self.train)}


def task_name(task) -> str:
    return next(name for name, cls in TASKS.items() if isinstance(task, cls))


def build_task(data: dict) -> Any:
    data = dict(data)
    name = data.pop("name", None)
    if name not in TASKS:
        raise ConfigError(f"'task.name' is {name!r}; allowed values: {', '.join(map(repr, TASKS))}")
    return from_dict(TASKS[name], data, prefix="task.")


def recipe_from_dict(data: dict) -> Recipe:
    unknown = sorted(set(data) - {"task", "model", "train", "out"})
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; allowed keys: model, out, task, train")
    if "task" not in data:
        raise ConfigError("missing table [task] (with at least name = ...)")
    out = data.get("out")
    if out is not None and not isinstance(out, str):
        raise ConfigError(f"'out' must be str, got {type(out).__name__} {out!r}")
    return Recipe(
        task=build_task(data["task"]),
        model=from_dict(ModelConfig, data.get("model", {}), prefix="model."),
        train=from_dict(TrainConfig, data.get("train", {}), prefix="train."),
        out=out,
    )


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    recipe = recipe_from_dict(apply_overrides(load_file(path), list(overrides)))
    if recipe.out is None:
        recipe = dataclasses.replace(recipe, out=str(Path("runs") / Path(path).stem))
    return recipe


def load_trained(path: str | Path):
    """(recipe, model with its trained weights) from a run folder or a checkpoint in it.

    Weights come from safetensors only; the recipe from the run's ``recipe.json``.
    """
    import json

    from seqlab.build import build_model
    from seqlab.errors import SeqlabError
    from seqlab.train.checkpoint import WEIGHTS, latest_checkpoint, load_weights

    path = Path(path)
    ckpt = path if (path / WEIGHTS).is_file() else latest_checkpoint(path)
    if ckpt is None:
        raise SeqlabError(f"{path} holds no checkpoint (expected a run folder written by seqlab train)")
    recipe_file = ckpt.parent / "recipe.json"
    if not recipe_file.is_file():
        raise SeqlabError(f"{recipe_file} is missing: cannot rebuild the model")
    recipe = recipe_from_dict(json.loads(recipe_file.read_text()))
    model = build_model(recipe.model, recipe.task)
    try:
        model.load_state_dict(load_weights(ckpt))
    except RuntimeError as err:
        raise SeqlabError(f"{ckpt}: the weights do not fit the recipe's model ({str(err).splitlines()[0]})") from None
    return recipe, model
