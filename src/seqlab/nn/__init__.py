"""Neural network modules: cells, recurrent layers, attention, encoder-decoders."""

from seqlab.nn.cells import GRUCell, LSTMCell, RNNCell
from seqlab.nn.recurrent import GRU, LSTM, RNN
from seqlab.nn.scan import MinGRU, MinLSTM
from seqlab.nn.sequence import SequenceModel

__all__ = [
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MinGRU", "MinLSTM", "RNN", "RNNCell", "SequenceModel",
]
