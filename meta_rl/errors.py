"""Errors that mean the user asked for something wrong; the CLI prints them as one line."""


class MetaRLError(Exception):
    """A user mistake (bad config, unknown env id, missing run folder): no traceback needed."""


class ConfigError(MetaRLError, ValueError):
    """A config key that is unknown, ill-typed or out of range."""
