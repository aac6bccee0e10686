"""The model library's own errors (it imports nothing of ``appliance``)."""

from __future__ import annotations


class ModelError(ValueError):
    """A model file or manifest is invalid; the message says which and what to do."""
