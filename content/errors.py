"""The content library's own errors (it imports nothing of ``appliance``)."""

from __future__ import annotations


class ContentError(ValueError):
    """A content pack is invalid; the message names the file and what to fix."""
