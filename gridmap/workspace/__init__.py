"""The workspace: layer schema and the GeoPackage store (read, atomic write, locking)."""

from gridmap.workspace.store import Workspace, load_workspace, read_layer, write_layers

__all__ = ["Workspace", "load_workspace", "read_layer", "write_layers"]
