"""Machine translation on the real corpora: recipes, data, the task, evaluation.

Built on ``seqlab.nn`` (the encoder-decoders), ``seqlab.decode`` and ``seqlab.metrics``;
trained by ``seqlab.train.Trainer`` (``translation.task``) behind the ``train``,
``translate`` and ``evaluate`` commands.
"""

from seqlab.translation.config import MTData, MTModel, MTTrain, Translation

__all__ = ["MTData", "MTModel", "MTTrain", "Translation"]  # models: seqlab.build.build_translator
