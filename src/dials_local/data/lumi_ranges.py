"""Lumisection numbers as the compact JSON of golden/DCS/cert files: ``[[first, last], ...]``."""

from __future__ import annotations


def ranges(numbers: list[int]) -> list[list[int]]:
    """Maximal runs of consecutive integers (``numbers`` sorted) as inclusive
    ``[first, last]`` pairs."""
    pairs: list[list[int]] = []
    for number in numbers:
        if pairs and number == pairs[-1][1] + 1:
            pairs[-1][1] = number
        else:
            pairs.append([number, number])
    return pairs
