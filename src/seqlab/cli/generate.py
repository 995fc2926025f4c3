"""seqlab generate RUN --prompt TEXT [--temperature T] [--top-k K] [-n N]"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", help="a language model's run folder (or a checkpoint folder in it)")
    parser.add_argument("--prompt", default="\n", help="text to continue")
    parser.add_argument("-n", "--length", type=int, default=300, help="tokens to sample")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from seqlab.data.lm import CorpusLM
    from seqlab.errors import SeqlabError
    from seqlab.generate import generate
    from seqlab.recipe import load_trained

    recipe, model = load_trained(args.run)
    if not isinstance(recipe.task, CorpusLM):
        raise SeqlabError(f"{args.run} is not a language model (its task is {type(recipe.task).__name__})")
    tok = recipe.task.tokenizer_obj
    prompt = tok.encode(args.prompt)
    if not prompt:
        raise SeqlabError("the prompt encodes to no tokens; give some text")
    ids = generate(model, prompt, args.length, args.temperature, args.top_k, args.seed)
    print(args.prompt + tok.decode(ids))
    return 0
