"""The JSON of the store's columns (a document's parsed form, a request's working data, audit details).

:func:`dumps` and :func:`loads` give what the standard library's ``json.dumps`` / ``json.loads`` give, read back
(the same values; the text is compact, without the blanks after ``,`` and ``:``), through orjson: a document's
parsed form (some 6 kB, its lines and its qbXML) is written with every document stored, and ``json`` spent about
5 % of a big file's ingest on it, orjson a fifth of that. What orjson refuses and ``json`` takes (an integer
beyond 64 bits, a lone surrogate, NaN read back) goes to ``json``, so nothing is refused that was taken before.
One difference: a float that is not finite is written as null (``json`` writes ``NaN``, which is not JSON); the
store keeps amounts as text, never as floats.
"""
from __future__ import annotations

import json

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # (``json`` writes a dict's int or bool keys as text; so does orjson with it)


def dumps(value: object) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except (TypeError, ValueError):  # (what json takes and orjson does not; or an error json raises as well)
        return json.dumps(value)


def loads(text: str | bytes) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
