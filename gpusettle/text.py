"""Strings a provider chose (a GPU model, a metadata URI) as a person sees them: without control characters or
bidirectional overrides. Shown raw they could retitle or clear a terminal, or reorder what is shown after them
(a price, a prompt, the next column of a page)."""

from __future__ import annotations

import re

__all__ = ["strip_controls"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """`text` without C0/C1 control characters and bidirectional marks, embeddings, overrides and isolates."""
    return _CONTROL.sub("", text)
