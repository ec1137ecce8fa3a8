"""JSON encoding of answers whose big lists are already JSON text.

A page of 1,000 full Get-Mailbox objects is about 14 MB of JSON; building it from
pre-encoded record texts is several times faster than ``json.dumps`` of dicts. ``RawArray``
holds such texts; ``encode`` puts them into the surrounding answer (also inside a ``$batch``
answer) by swapping a unique placeholder string for the array text after ``json.dumps``.
"""
from __future__ import annotations

import itertools
import json
import uuid


class RawArray:
    """A JSON array whose items are JSON texts."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = list(items)

    def __len__(self):
        return len(self.items)

    def text(self):
        """The array as JSON text."""
        return "[" + ",".join(self.items) + "]"

    def decoded(self):
        """The array as Python objects (for the rare answers that rewrite a page)."""
        return json.loads(self.text())


def encode(body):
    """Compact JSON text of body; RawArray values anywhere inside are inserted as they are."""
    nonce = uuid.uuid4().hex
    counter = itertools.count()
    raws = {}

    def placeholder(value):
        if not isinstance(value, RawArray):
            raise TypeError("not JSON serializable: %r" % type(value))
        key = "@@raw-%s-%d@@" % (nonce, next(counter))
        raws['"%s"' % key] = value
        return key

    text = json.dumps(body, separators=(",", ":"), default=placeholder)
    for key, value in raws.items():
        text = text.replace(key, value.text(), 1)
    return text
