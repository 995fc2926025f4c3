"""seqlab models | seqlab tasks: what can be built and trained."""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    pass


def run(args) -> int:
    if args._name == "models":
        from seqlab.build import ARCH_HELP

        for arch, text in ARCH_HELP.items():
            print(f"{arch:<12} {text}")
        return 0
    from seqlab.data.tasks import TASKS

    for name, cls in TASKS.items():
        task = cls()
        first = (cls.__doc__ or "").strip().splitlines()[0].replace("``", "")
        print(f"{name:<8} {first} (chance loss {task.chance_loss:.3f}, {task.loss_kind})")
    return 0
