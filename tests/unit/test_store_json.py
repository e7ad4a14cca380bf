"""connector._json: the store's JSON columns read back what the standard library's json reads back."""
import json
import math

import pytest

from connector import _json

VALUES = [
    {"total": "12.30", "lines": [{"line_number": "1", "amount": "3.60", "description": "WIDGET \u00e9 \u2013 \U0001f600"}],
     "holds": [], "credit": False, "due": None, "n": 3, "qbxml": '<?xml version="1.0"?>\n<QBXML>&amp;</QBXML>'},
    {1: "int key", True: "bool key", None: "null key"},  # (json writes such keys as text)
    {"big": 2 ** 70, "negative": -(2 ** 64)},  # beyond orjson's 64 bits: json takes it
    {"surrogate": "\ud800 alone"},  # a lone surrogate: json escapes it
    {"float": 0.1, "exp": 1e16, "tiny": 5e-324},
    [],
    "text",
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_reads_back_as_json_does(value):
    assert json.loads(_json.dumps(value)) == json.loads(json.dumps(value))
    assert _json.loads(_json.dumps(value)) == json.loads(json.dumps(value))


def test_loads_reads_what_json_wrote():
    """Rows written before orjson (json's own text, NaN included) read back as json reads them."""
    for value in VALUES:
        assert _json.loads(json.dumps(value)) == json.loads(json.dumps(value))
    assert math.isnan(_json.loads('{"x": NaN}')["x"])


def test_what_json_refuses_is_refused():
    with pytest.raises(TypeError):
        _json.dumps({"amount": object()})
    with pytest.raises(ValueError):
        _json.loads("{not json")
