"""Analysis: distances (straight-line, walking network), coverage, indicators, standards, siting."""
