"""Neural network modules: cells, recurrent layers, attention, encoder-decoders."""

from seqlab.nn.scan import MinGRU, MinLSTM
from seqlab.nn.sequence import SequenceModel

__all__ = ["MinGRU", "MinLSTM", "SequenceModel"]
