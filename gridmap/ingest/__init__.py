"""Ingest: reading office files (encodings, tables, vector formats, coordinates) into the workspace."""
