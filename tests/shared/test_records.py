"""A record's values are read by name, from its declared layout, whatever their positions."""

from __future__ import annotations

import pytest

from shared import records

_LAYOUT = records.Record("PAIR", (("first", "f"), ("second", "s"), ("third", "t")))


def test_a_getter_reads_values_by_name_in_the_order_named() -> None:
    values = ["a", None, "c"]
    assert _LAYOUT.getter("third", "first")(values) == ("c", "a")
    assert _LAYOUT.getter("second")(values) is None
    with pytest.raises(KeyError):
        _LAYOUT.getter("fourth")


def test_the_layouts_derive_names_and_attributes_from_their_fields() -> None:
    assert _LAYOUT.names == ("first", "second", "third")
    assert _LAYOUT.attrs == ("f", "s", "t")
    assert _LAYOUT.width == 3
    assert records.MESSAGE.getter("length")(list(records.MESSAGE.names)) == "length"


def test_records_are_whole_or_refused() -> None:
    assert _LAYOUT.each(["a", "b", "c", "d", "e", "f"]) == [["a", "b", "c"], ["d", "e", "f"]]
    assert _LAYOUT.each([]) == []
    assert _LAYOUT.one(("a", "b", "c")) == ("a", "b", "c")
    with pytest.raises(ValueError, match="PAIR: 4 values are not records of 3"):
        _LAYOUT.each(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="PAIR: 2 values, not 3"):
        _LAYOUT.one(["a", "b"])
