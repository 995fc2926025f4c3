"""A training recipe: one config file naming a task, a model and how to train it.

```toml
out = "runs/adding-lstm"      # optional; default runs/<file stem>
[task]
name = "adding"               # a name from TASKS below (synthetic tasks, lm, translation, classify, forecast)
length = 100                  # the task's own fields; a real-data task's corpus is a name or the user's files
[model]                       # seqlab.build.ModelConfig (translation: an encoder-decoder, MTModel)
arch = "lstm"
[train]                       # seqlab.train.TrainConfig
steps = 2000
```

Every task has this one shape (``seqlab train --help`` prints it). A task on a corpus
(lm, translation, classify, forecast) also has ``prepare(batch_size)``, which reads and
checks its data, and ``data_record()``, what the run folder's ``data.json`` keeps of it
(``write_data_record``, ``check_same_data``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.build import ModelConfig, MTModel
from seqlab.classify import Classification
from seqlab.config import apply_overrides, check_out, from_dict, load_file
from seqlab.data.lm import CorpusLM
from seqlab.data.tasks import TASKS as SYNTHETIC
from seqlab.errors import ConfigError
from seqlab.timeseries.task import Forecast
from seqlab.train.config import TrainConfig
from seqlab.translation.config import Translation

# task name -> config class: the synthetic tasks, then the tasks on a corpus (a built-in name or the user's files)
TASKS = {**SYNTHETIC, "lm": CorpusLM, "translation": Translation, "classify": Classification, "forecast": Forecast}

# what --resume may change: where the run lives, how long it goes on, how it logs; never
# what it computes (the learning rate, the model, the task, the seed, ...)
RESUME_KEYS = {"out", "train.steps", "train.max_minutes", "train.log_every", "train.checkpoint_every",
               "train.progress", "train.compile"}
# ... nor, unless the schedule follows the evaluations (plateau), when and how it evaluates
EVAL_KEYS = {"train.eval_every", "train.eval_every_minutes", "train.eval_batches", "task.eval_sentences",
             "task.max_len_ratio"}


@dataclass(frozen=True)
class Recipe:
    task: Any
    model: ModelConfig | MTModel = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out: str | None = None

    def to_dict(self) -> dict:
        task = {"name": task_name(self.task), **dataclasses.asdict(self.task)}
        return {"out": self.out, "task": task, "model": dataclasses.asdict(self.model),
                "train": dataclasses.asdict(self.train)}

    @property
    def translation(self) -> bool:
        return isinstance(self.task, Translation)


def is_translation(data: dict) -> bool:
    """Whether a recipe dict (a file, or a run's recipe.json) trains a translation model:
    the one place the kind of a recipe is told."""
    task = data.get("task")
    return isinstance(task, dict) and task.get("name") == "translation"


def task_name(task) -> str:
    return next(name for name, cls in TASKS.items() if isinstance(task, cls))


def build_task(data: dict) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"'task' must be a table of keys (name = ...), got {type(data).__name__}")
    data = dict(data)
    name = data.pop("name", None)
    if not isinstance(name, str) or name not in TASKS:
        raise ConfigError(f"'task.name' is {name!r}; allowed values: {', '.join(map(repr, TASKS))}")
    task = from_dict(TASKS[name], data, prefix="task.")
    if name == "lm" and task.tokenizer in ("unigram", "bpe") and task.vocab_limit is None:
        raise ConfigError(f"the {task.tokenizer} tokenizer needs 'task.vocab_limit' (its vocabulary size, "
                          f"at least 300); only char and word may leave it unset")
    return task


def recipe_from_dict(data: dict) -> Recipe:
    if not isinstance(data, dict):
        raise ConfigError(f"a recipe is tables of keys ([task], [model], [train]), got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in {"task", "model", "train", "out"})
    if unknown == ["data"]:
        raise ConfigError("unknown key 'data': a translation recipe names its corpus in [task] (name = "
                          "\"translation\", corpus = ...), its budget in [train] (steps, max_minutes)")
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; allowed keys: model, out, task, train")
    if "task" not in data:
        raise ConfigError("missing table [task] (with at least name = ...)")
    out = check_out(data.get("out"))
    task = build_task(data["task"])
    model_cls = MTModel if isinstance(task, Translation) else ModelConfig
    train = from_dict(TrainConfig, data.get("train", {}), prefix="train.")
    if isinstance(task, Translation) and train.tbptt is not None:
        raise ConfigError("translation trains on whole sentence pairs: 'train.tbptt_k1' does not apply")
    return Recipe(task=task, model=from_dict(model_cls, data.get("model", {}), prefix="model."), train=train,
                  out=out)


def resumed_recipe(saved: dict, wanted: Recipe) -> tuple[Recipe, list[str]]:
    """The recipe a resumed run goes on with: ``wanted`` when it differs from the ``saved``
    recipe.json only in ``RESUME_KEYS`` (and ``EVAL_KEYS`` unless the schedule follows the
    evaluations); the changes come back as text; else ConfigError."""
    from seqlab.train.run_folder import resume_changes

    old = recipe_from_dict(saved)
    allowed, why = set(RESUME_KEYS), {}
    if old.train.schedule != "plateau":
        allowed |= EVAL_KEYS
    if old.train.schedule == "cosine":  # the cosine curve is spread over train.steps
        allowed.discard("train.steps")
        why["train.steps"] = "(the cosine schedule spans train.steps)"
    return wanted, resume_changes(old.to_dict(), wanted.to_dict(), allowed, why)


def checked_resume(trainer, wanted: Recipe, has_recipe_json: bool, changes: list[str]) -> list[str]:
    """After ``trainer`` restored its checkpoint: the changes of the resume, checked against the
    recipe stored in that checkpoint (what it was trained with, even if recipe.json was
    deleted or edited). A refused change closes the trainer (releasing the folder) and raises."""
    saved = trainer.checkpoint_recipe
    try:
        if saved is not None:
            return resumed_recipe(saved, wanted)[1]
        if not has_recipe_json:
            raise ConfigError("cannot resume: the run's recipe.json is missing and its checkpoint (of an older "
                              "seqlab) holds no recipe, so what --resume would change cannot be checked; "
                              "put recipe.json back, or start a new run")
    except BaseException:
        trainer.close()
        raise
    return changes


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    recipe = recipe_from_dict(apply_overrides(load_file(path), list(overrides)))
    if recipe.out is None:
        recipe = dataclasses.replace(recipe, out=str(Path("runs") / Path(path).stem))
    return recipe


def load_trained(path: str | Path):
    """(recipe, model with its trained weights) from a run folder or a checkpoint in it.

    Weights come from safetensors only; the recipe from the run's ``recipe.json``.
    """
    from seqlab.build import build_model
    from seqlab.errors import SeqlabError
    from seqlab.train.checkpoint import CKPT_NAME, load_final_weights, load_model_weights, load_weights
    from seqlab.train.run_folder import read_recipe

    path = Path(path)
    if not path.is_dir():
        raise SeqlabError(f"{path} is not a run folder (no such folder)")
    one_checkpoint = CKPT_NAME.fullmatch(path.name) is not None
    run_dir = path.parent if one_checkpoint else path
    saved = read_recipe(run_dir)
    if is_translation(saved):
        raise SeqlabError(f"{run_dir} is a translation run: use seqlab translate or seqlab evaluate")
    recipe = recipe_from_dict(saved)
    if one_checkpoint:
        where, weights = path, load_weights(path)
    else:  # the final weights, or a newer intact checkpoint
        where, weights = run_dir, load_final_weights(run_dir, run_dir)
    model = build_model(recipe.model, recipe.task)
    load_model_weights(model, weights, where)
    return recipe, model



DATA_RECORD = "data.json"


def write_data_record(run_dir: str | Path, task) -> None:
    """``run_dir/data.json``: the files, hashes and split lines the run trains and is scored on."""
    import json
    import os

    from seqlab.train.manifest import record_run_files

    if not hasattr(task, "data_record"):
        return
    record_run_files(run_dir, [DATA_RECORD])  # --overwrite deletes it, as every file seqlab writes
    path = Path(run_dir) / DATA_RECORD
    tmp = path.with_name(f".{DATA_RECORD}.tmp")
    tmp.write_text(json.dumps(task.data_record(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def check_same_data(run_dir: str | Path, task, why: str) -> None:
    """Refuse, in one line, data other than those ``data.json`` recorded (a file edited since
    the run, another split): ``why`` says what needs the same data. A run without the record
    (a synthetic task, an older run) passes."""
    import json

    from seqlab.errors import SeqlabError

    path = Path(run_dir) / DATA_RECORD
    if not hasattr(task, "data_record") or not path.is_file():
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SeqlabError(f"{path} is damaged: {err}") from None
    now = json.loads(json.dumps(task.data_record()))
    if now != saved:
        changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
        files = [f for f, h in saved.get("files", {}).items() if now.get("files", {}).get(f) != h]
        raise SeqlabError(f"the data are not those of the run ({path} differs in {', '.join(changed)}"
                          + (f"; changed since: {', '.join(files)}" if files else "") + f"): {why}")
