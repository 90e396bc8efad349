"""Lookup: address parsing, the address registry, matching, coordinate lookup and batch files."""

from gridmap.lookup.matching import AddressRegistry, locate

__all__ = ["AddressRegistry", "locate"]
