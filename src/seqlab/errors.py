"""Errors that the CLI turns into one clear line instead of a traceback."""


class SeqlabError(Exception):
    """A user-facing error: bad input, missing data, a config mistake."""


class ConfigError(SeqlabError, ValueError):
    """A config key is unknown, has the wrong type, or is out of range."""


class MissingDependencyError(SeqlabError, ImportError):
    """An optional package (or its data files) is not installed."""


class TrainingDivergedError(SeqlabError, FloatingPointError):
    """The loss or the gradients became NaN or infinite."""
