"""Coordinates: CRS parsing, WGS84 / EPSG / GCJ-02 / BD-09 conversions, metric CRS choice."""
