"""seqlab models | seqlab tasks: what can be built and trained."""

from __future__ import annotations

# Translation architectures (``model.arch`` of a recipe with task.name = "translation", configs/mt-*.toml).
MT_ARCH_HELP = {
    "seq2seq": "encoder-decoder RNN, the source squeezed into one vector (Sutskever et al. 2014)",
    "bahdanau": "RNN encoder-decoder with additive attention (Bahdanau et al. 2015)",
    "luong": "RNN with dot/general/concat attention, global or local-m/local-p (Luong et al. 2015)",
    "transformer": "self-attention encoder-decoder (Vaswani et al. 2017)",
    "convs2s": "convolutional encoder-decoder with gated linear units (Gehring et al. 2017)",
}


def add_arguments(parser, name: str) -> None:
    pass


def run(args) -> int:
    if args._name == "models":
        from seqlab.build import ARCH_HELP

        print("recurrent backbones (task recipes and language models, model.arch = ...):")
        for arch, text in ARCH_HELP.items():
            print(f"  {arch:<12} {text}")
        print('translation models (recipes with task.name = "translation", model.arch = ...):')
        for arch, text in MT_ARCH_HELP.items():
            print(f"  {arch:<12} {text}")
        return 0
    from seqlab.data.tasks import TASKS

    for name, cls in TASKS.items():
        task = cls()
        first = (cls.__doc__ or "").strip().splitlines()[0].replace("``", "")
        print(f"{name:<8} {first} (chance loss {task.chance_loss:.3f}, {task.loss_kind})")
    return 0
