"""Errors that mean the user asked for something wrong; the CLI prints them as one line."""


class MetaRLError(Exception):
    """A user mistake (bad config, unknown env id, missing run folder): no traceback needed."""


class ConfigError(MetaRLError, ValueError):
    """A config key that is unknown, ill-typed or out of range."""


class NonFiniteError(MetaRLError, FloatingPointError):
    """A NaN or infinity where a run needs a number (training stops at its last checkpoint).

    Args:
        quantity: What was not finite (``reward``, ``observation``, ``surrogate``, ...).
        where: The family, iteration, phase and task, in words.
    """

    def __init__(self, quantity: str, where: str) -> None:
        super().__init__(f"non-finite {quantity} {where}")
        self.quantity = quantity
        self.where = where
