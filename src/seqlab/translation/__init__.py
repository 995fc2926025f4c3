"""Machine translation on the real corpora: recipes, data, training, evaluation.

Built on ``seqlab.nn`` (the encoder-decoders), ``seqlab.decode`` and ``seqlab.metrics``;
used by the ``train``, ``translate`` and ``evaluate`` commands.
"""

from seqlab.translation.config import MTData, MTModel, MTRecipe, MTTrain, load_mt_recipe
from seqlab.translation.build import build_translator

__all__ = ["MTData", "MTModel", "MTRecipe", "MTTrain", "build_translator", "load_mt_recipe"]
