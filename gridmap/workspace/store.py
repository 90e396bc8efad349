"""The workspace on disk: one GeoPackage holding named layers.

Reading normalises ids to strings and checks that each layer has a CRS.
Writing is atomic: the new content is written to a temporary copy next to the
workspace, flushed to disk and moved over the original with ``os.replace``, so
a reader (or a crash) only ever sees the old or the new file, never a mix.
Writers are serialised with a lock file; a second writer waits briefly and then
gets :class:`~gridmap.errors.WorkspaceBusyError`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from gridmap.errors import (
    WORKSPACE_COPY_HINT,
    CRSError,
    GridmapError,
    LayerNotFoundError,
    SchemaError,
    WorkspaceBusyError,
    WorkspaceError,
    os_write_error,
    write_failure,
)
from gridmap.policy.ids import normalise_id_columns
from gridmap.workspace import sqlite as gsql
from gridmap.workspace.files import (  # re-exported: callers import them from the store
    LOCK_TIMEOUT_S,
    TMP_SUFFIX,
    WORKSPACE_ENV,  # noqa: F401
    column_update_error,
    default_workspace,  # noqa: F401
    remove_stale_temp_files,
    resolve_workspace,
    stale_temp_files,  # noqa: F401
    workspace_lock,
)
from gridmap.workspace.schema import LAYERS

#: How long a reader keeps retrying while writers replace the workspace under it.
READ_RETRY_S = 5.0
#: Registered attribute tables (no geometry) that are workspace layers.
ATTRIBUTE_LAYERS = frozenset({"request_events"})


def list_layers(path: str | os.PathLike) -> list[str]:
    """Names of the layers in a workspace (GeoPackage).

    The feature layers (tables with a geometry column), then the registered
    attribute tables that the workspace schema names. Other tables QGIS or a
    user added (``layer_styles``, an audit table), views and triggers are not
    layers: gridmap reads around them and leaves them as they are.
    """
    return _layer_names(_catalog(resolve_workspace(path)))


def _layer_names(cat: Mapping[str, gsql.TableInfo]) -> list[str]:
    return [
        name
        for name, info in cat.items()
        if info.kind == "features" or name in LAYERS or name in ATTRIBUTE_LAYERS
    ]


def _catalog(p: Path) -> dict[str, gsql.TableInfo]:
    try:
        con = gsql.connect_ro(p)
        try:
            return gsql.catalog(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        text = str(exc).lower()
        if "malformed" in text or "corrupt" in text:
            raise WorkspaceError(
                "the GeoPackage is damaged or incomplete (SQLite says: database disk image is "
                "malformed; often a copy or download that stopped half-way). Copy it again "
                "or restore it from a backup.",
                file=str(p),
            ) from exc
        raise WorkspaceError(
            f"cannot open it as a GeoPackage ({_short(exc)}). Is the file complete?",
            file=str(p),
        ) from exc


def id_columns_of(df: pd.DataFrame) -> list[str]:
    """All columns of ``df`` that hold workspace ids."""
    ids = {spec.id_column for spec in LAYERS.values()}
    return [c for c in df.columns if c in ids or c.endswith("_id")]


def read_layer(
    path: str | os.PathLike,
    layer: str,
    *,
    missing_ok: bool = False,
    columns: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame | None:
    """Read one layer of a workspace in EPSG:4326 with string ids.

    Parameters
    ----------
    path
        Workspace file.
    layer
        Layer name (see :mod:`gridmap.workspace.schema`).
    missing_ok
        Return None instead of raising when the layer does not exist.
    columns
        Read only these attribute columns (the geometry is always read); names
        the layer does not have are ignored.
    bbox
        Read only features intersecting (minx, miny, maxx, maxy), in the
        layer's CRS.

    Raises
    ------
    LayerNotFoundError, WorkspaceError, CRSError
    """
    p = resolve_workspace(path)
    gdf, _ = _read_layer(p, layer, missing_ok=missing_ok, columns=columns, bbox=bbox)
    return gdf


def _read_layer(
    p: Path,
    layer: str,
    *,
    missing_ok: bool = False,
    columns: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    catalog: Mapping[str, gsql.TableInfo] | None = None,
) -> tuple[gpd.GeoDataFrame | None, np.ndarray | None]:
    """:func:`read_layer` that also returns the features' fids (in row order)."""
    cat = catalog if catalog is not None else _catalog(p)
    info = cat.get(layer)
    if info is None:
        if missing_ok:
            return None, None
        names = _layer_names(cat)
        raise LayerNotFoundError(
            f"the workspace has no layer '{layer}' (it has: {', '.join(names) or 'none'}). "
            f"Add it with 'gridmap import {layer} FILE'.",
            file=str(p),
            layer=layer,
        )
    try:
        if info.kind == "features" and not info.registered:
            gdf, fids = _read_unregistered(p, info, columns)
        else:
            if columns is not None:
                have = {str(f).lower(): str(f) for f in pyogrio.read_info(p, layer=layer)["fields"]}
                columns = [have[c.lower()] for c in columns if c.lower() in have]
            df = pyogrio.read_dataframe(
                p, layer=layer, columns=columns, bbox=bbox, use_arrow=True, fid_as_index=True
            )
            fids = df.index.to_numpy(dtype=np.int64)
            df = df.reset_index(drop=True)
            if isinstance(df, gpd.GeoDataFrame):
                gdf = df
            else:  # an attribute table: no geometry
                gdf = gpd.GeoDataFrame(df)
    except GridmapError:
        raise
    except Exception as exc:
        raise WorkspaceError(
            f"cannot read the layer ({_short(exc)})", file=str(p), layer=layer
        ) from exc
    if info.kind != "features":  # an attributes table (e.g. request_events): no CRS
        df = pd.DataFrame(gdf)
        normalise_id_columns(df, id_columns_of(df))
        df.attrs.update(layer=layer, file=str(p))
        return df, fids
    if gdf.crs is None:
        raise CRSError(
            "the layer has no coordinate system. Re-import it with crs= (e.g. crs=4326).",
            file=str(p),
            layer=layer,
        )
    if not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    normalise_id_columns(gdf, id_columns_of(gdf))
    gdf.attrs["layer"] = layer
    gdf.attrs["file"] = str(p)
    return gdf, fids


def _read_unregistered(
    p: Path, info: gsql.TableInfo, columns: Sequence[str] | None
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Read a feature table that ``gpkg_contents`` no longer registers.

    GDAL then sees a plain table with a blob column; the GeoPackage geometry
    blobs are decoded here (an emptied ``gpkg_contents`` must not lose layers).
    """
    import shapely

    df = pyogrio.read_dataframe(p, layer=info.name, use_arrow=True, fid_as_index=True)
    fids = df.index.to_numpy(dtype=np.int64)
    df = pd.DataFrame(df).reset_index(drop=True)
    gcol = info.geometry_column
    df = df[[c for c in df.columns if str(c).lower() != str(gcol).lower()]]
    if columns is not None:
        keep = {c.lower() for c in columns}
        df = df[[c for c in df.columns if str(c).lower() in keep]]
    con = gsql.connect_ro(p)
    try:
        crs = gsql.srs_definition(con, info.srs_id)
        fid_col = gsql.fid_column(con, info.name)
        # GDAL reads the blob column of an unregistered table as text: read it here
        blobs = dict(con.execute(f'SELECT "{fid_col}", "{gcol}" FROM "{info.name}"').fetchall())
    finally:
        con.close()
    wkb = np.array([gsql.gpkg_blob_to_wkb(blobs.get(int(f))) for f in fids], dtype=object)
    geoms = shapely.from_wkb(wkb)
    return gpd.GeoDataFrame(df, geometry=geoms, crs=crs), fids


@dataclass
class Workspace:
    """A workspace loaded into memory: the layers present, keyed by name.

    Use :func:`load_workspace` to make one. ``signature`` identifies the file
    version on disk (size and modification time), so a long-running service
    can tell when to reload.
    """

    path: Path
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    signature: tuple[int, int] = (0, 0)
    #: layer -> the GeoPackage feature ids of its rows (in row order), so that a
    #: writer can update columns in place (:func:`write_columns`)
    fids: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> gpd.GeoDataFrame | None:
        return self.layers.get(name)

    def require(self, name: str) -> gpd.GeoDataFrame:
        gdf = self.layers.get(name)
        if gdf is None:
            raise LayerNotFoundError(
                f"the workspace has no layer '{name}'. Add it with 'gridmap import {name} FILE'.",
                file=str(self.path),
                layer=name,
            )
        return gdf

    def __contains__(self, name: str) -> bool:
        return name in self.layers


def file_signature(path: str | os.PathLike) -> tuple[int, int]:
    """(size, mtime in ns) of a file: changes whenever the workspace is replaced."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)


def _file_identity(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def load_workspace(
    path: str | os.PathLike | None = None,
    layers: Sequence[str] | None = None,
    *,
    columns: Mapping[str, Sequence[str] | None] | None = None,
) -> Workspace:
    """Read all (or the named) layers of a workspace into memory.

    Each layer is read with its own open of the file, so if a writer changes
    the workspace while the layers are being read, the read is repeated: the
    result never mixes layers of the old and the new file.

    Parameters
    ----------
    path
        Workspace file (default: :func:`default_workspace`).
    layers
        Layer names to read (default: all); names not present are skipped.
    columns
        Layer -> the attribute columns to read (None: all). Reading only what
        a command needs keeps large layers cheap.
    """
    p = resolve_workspace(path)
    deadline = time.monotonic() + READ_RETRY_S
    pause = 0.02
    while True:
        gsql.recover_journal(p)  # a rollback changes the file: before taking its identity
        before = _file_identity(p)
        cat = _catalog(p)
        names = _layer_names(cat)
        wanted = [n for n in (layers or names) if n in names]
        ws = Workspace(path=p, signature=(before[2], before[3]))
        for name in wanted:
            cols = (columns or {}).get(name)
            gdf, fids = _read_layer(p, name, columns=cols, catalog=cat)
            ws.layers[name] = gdf
            ws.fids[name] = fids  # type: ignore[assignment]
        if _file_identity(p) == before:
            return ws
        if time.monotonic() + pause > deadline:
            break
        time.sleep(pause)  # a writer is busy: back off, then read the new file
        pause = min(pause * 2, 0.5)
    raise WorkspaceBusyError(
        "the workspace kept changing while it was being read. Try again in a moment.",
        file=str(p),
    )


_STORABLE = {"string", "empty", "integer", "floating", "mixed-integer-float", "boolean"}


def _prepare_for_write(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, bool]:
    if gdf.crs is None:
        raise CRSError("cannot write a layer without a coordinate system")
    out = gdf.copy(deep=False)
    if not out.crs.equals("EPSG:4326"):
        out = out.to_crs("EPSG:4326")
    types = set(out.geom_type.dropna().unique())
    # Polygon + MultiPolygon only: a layer mixing Points and Polygons (parking) keeps its Points
    promote = types == {"Polygon", "MultiPolygon"}
    # object columns holding values GDAL can't store directly become text;
    # infer_dtype looks at the values in C, so the usual columns cost nothing
    for col in out.columns:
        if col == out.geometry.name or out[col].dtype != object:
            continue
        kind = pd.api.types.infer_dtype(out[col], skipna=True)
        if kind == "boolean":  # GDAL's row writer stores these as the text True/False:
            vals = out[col].to_numpy(dtype=object)  # made here, so Arrow can write them too
            text = np.where(vals == True, "True", "False").astype(object)  # noqa: E712
            text[pd.isna(vals)] = None
            out[col] = pd.Series(text, index=out.index, dtype=object)
            continue
        if kind in _STORABLE:
            continue
        out[col] = out[col].map(
            lambda v: v if v is None or isinstance(v, (str, int, float, bool)) else str(v)
        )
    return out, promote


def _arrow_writable(gdf: gpd.GeoDataFrame) -> bool:
    """True when GDAL's Arrow writer stores ``gdf`` exactly as its row writer does.

    Columns of numbers, flags and text only (numpy ints, floats, bools; text with
    missing cells): both give the same table, types and values, about twice as
    fast through Arrow. Anything else (dates, objects of several kinds) and
    layers promoted to Multi* keep the row writer.
    """
    if tuple(pyogrio.__gdal_version__) < (3, 8, 0):  # GDAL's Arrow writer came with 3.8
        return False
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        dt = gdf[col].dtype
        if isinstance(dt, np.dtype) and dt.kind in "ifb":
            continue
        if isinstance(dt, pd.StringDtype):
            continue
        kind = pd.api.types.infer_dtype(gdf[col], skipna=True)
        if pd.api.types.is_object_dtype(dt) and kind in ("string", "empty"):
            continue
        return False
    return len(gdf) > 0


def _check_column_names(layer: str, gdf: gpd.GeoDataFrame) -> None:
    """Refuse column names a GeoPackage cannot store, before anything is written.

    GeoPackage (SQLite) column names are case-insensitive, and ``fid`` is the
    feature id column; GDAL fails with a bare "Error adding field" otherwise.
    """
    seen: dict[str, str] = {}
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        key = str(col).lower()
        if key == "fid" and not pd.api.types.is_integer_dtype(gdf[col]):
            raise SchemaError(
                f"the column '{col}' cannot be stored: a GeoPackage keeps its own feature id "
                "under that name. Rename the column (e.g. to source_fid).",
                layer=layer,
            )
        if key in seen:
            raise SchemaError(
                f"the columns '{seen[key]}' and '{col}' differ only in upper/lower case, which a "
                "GeoPackage cannot keep apart. Rename one of them.",
                layer=layer,
            )
        seen[key] = str(col)


def write_layers(
    path: str | os.PathLike,
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    delete: Sequence[str] = (),
    create: bool = True,
    lock_timeout: float = LOCK_TIMEOUT_S,
    locked: bool = False,
) -> Path:
    """Write (replace) layers in a workspace atomically.

    All layers are written into a temporary copy of the workspace, which then
    replaces the original in one ``os.replace``. If anything fails, the
    original is untouched and the temporary file is removed.

    Parameters
    ----------
    path
        The workspace file; created if it does not exist and ``create`` is true.
    layers
        Layer name -> GeoDataFrame. Existing layers of that name are replaced.
    delete
        Layer names to remove.
    locked
        True when the caller already holds :func:`workspace_lock` for ``path``
        (a read-modify-write holding it from its read to its write).
    """
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_write_error(exc, p, hint=WORKSPACE_COPY_HINT) from exc
    with contextlib.nullcontext() if locked else workspace_lock(p, lock_timeout):
        exists = p.exists() and p.stat().st_size > 0
        if not exists and not create:
            raise WorkspaceError("workspace not found", file=str(p))
        remove_stale_temp_files(p)
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=TMP_SUFFIX, dir=p.parent)
        except OSError as exc:
            raise os_write_error(
                exc, p, kept="the workspace was not changed", hint=WORKSPACE_COPY_HINT
            ) from exc
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            kept: dict[str, list[tuple[str, str]]] = {}
            if exists:
                shutil.copyfile(p, tmp)
                kept = _drop_for_replace(tmp, list(layers))
            else:
                tmp.unlink()
            gsql.crash_point("temp-partial")  # copied, the new layers not yet in it
            for name, gdf in layers.items():
                _check_column_names(name, gdf)
                out, promote = _prepare_for_write(gdf)
                pyogrio.write_dataframe(
                    out,
                    tmp,
                    layer=name,
                    driver="GPKG",
                    promote_to_multi=promote or None,
                    use_arrow=not promote and _arrow_writable(out),
                )
            if delete:
                _delete_layers(tmp, delete)
            lost = _restore_schema(tmp, kept)
            _fsync(tmp)
            _match_mode(tmp, p)
            gsql.crash_point("temp-complete")
            os.replace(tmp, p)
            gsql.crash_point("replaced")
            _fsync_dir(p.parent)
        except BaseException as exc:
            # judged while the temporary copy still takes its space (a full disk)
            mapped = write_failure(
                exc, p, scratch=tmp, kept="the workspace was not changed", hint=WORKSPACE_COPY_HINT
            )
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if mapped is not None:
                raise mapped from exc
            raise
    for name, why in lost:
        warnings.warn(f"{p}: layer {name}: {why}", stacklevel=2)
    return p


def _drop_for_replace(gpkg: Path, names: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Remove the layers about to be replaced; return their user triggers and indexes.

    Dropping first (rather than letting GDAL overwrite) also replaces a table
    that ``gpkg_contents`` no longer registers, which GDAL refuses to create
    again ("already exists").
    """
    con = sqlite3.connect(gpkg)
    try:
        cat = gsql.catalog(con)
        lower = {n.lower(): n for n in cat}
        kept = {}
        present = []
        for name in names:
            real = lower.get(str(name).lower())
            if real is None:
                continue
            present.append(real)
            kept[str(name)] = gsql.user_triggers(con, real) + gsql.user_indexes(con, real)
    finally:
        con.close()
    if present:
        _delete_layers(gpkg, present)
    return kept


def _restore_schema(gpkg: Path, kept: Mapping[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """Re-create the user triggers and indexes of replaced layers (those that still apply)."""
    lost: list[tuple[str, str]] = []
    if not any(kept.values()):
        return lost
    con = sqlite3.connect(gpkg)
    try:
        gsql.register_gpkg_functions(con)
        for layer, items in kept.items():
            for name, sql in items:
                try:
                    con.execute(sql)
                except sqlite3.Error as exc:
                    lost.append((layer, f"could not keep '{name}' on the new layer ({exc})"))
        con.commit()
    finally:
        con.close()
    return lost


def write_columns(
    path: str | os.PathLike,
    updates: Mapping[str, tuple[np.ndarray, pd.DataFrame]],
    *,
    clear: Mapping[str, Sequence[str]] | None = None,
    lock_timeout: float = LOCK_TIMEOUT_S,
    locked: bool = False,
) -> Path:
    """Set a few columns of existing layers in place, in one SQLite transaction.

    Only the given columns of the given layers change (they are added when
    missing); geometries, other columns, other layers, tables QGIS added
    (``layer_styles``), views and triggers stay as they are. The transaction is
    atomic: after a crash at any point the workspace holds the old or the new
    values of every layer. ``gpkg_contents.last_change`` is updated, so GDAL and
    QGIS see the change; the extent is unchanged because no geometry moves.

    Parameters
    ----------
    path
        The workspace file.
    updates
        Layer -> (fids, values): ``fids`` from :attr:`Workspace.fids` (the rows'
        GeoPackage feature ids), ``values`` one row per fid.
    clear
        Layer -> columns that ``values`` does not hold and that must be set to
        null where they exist (results of an earlier run that no longer apply).
    locked
        True when the caller already holds :func:`workspace_lock`.

    Falls back to rewriting a layer (:func:`write_layers`) where a column of
    the same name has another type and cannot be dropped in place.
    """
    p = resolve_workspace(path)
    with contextlib.nullcontext() if locked else workspace_lock(p, lock_timeout):
        remove_stale_temp_files(p)
        try:
            gsql.update_columns(p, updates, drop=clear)
        except gsql.NeedsRewrite:
            frames = {}
            for layer, (fids, values) in updates.items():
                full, full_fids = _read_layer(p, layer)
                if full is None:
                    raise WorkspaceError(
                        "the layer changed while it was being updated", file=str(p), layer=layer
                    ) from None
                pos = pd.Index(full_fids).get_indexer(np.asarray(fids))
                if (pos < 0).any():
                    raise WorkspaceError(
                        "the layer changed while it was being updated", file=str(p), layer=layer
                    ) from None
                drop = [
                    c
                    for c in full.columns
                    if c in values.columns or c in (clear or {}).get(layer, ())
                ]
                full = full.drop(columns=drop)
                for col in values.columns:
                    col_values = np.full(len(full), None, dtype=object)
                    col_values[pos] = values[col].to_numpy(dtype=object)
                    full[col] = pd.Series(col_values, index=full.index).infer_objects()
                frames[layer] = full
            write_layers(p, frames, locked=True)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise column_update_error(exc, p) from exc
    return p


def atomic_write_file(path: str | os.PathLike, write) -> Path:
    """Write any output file atomically: ``write(tmp_path)`` then rename over ``path``."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=p.suffix, dir=p.parent)
    except OSError as exc:
        raise os_write_error(exc, p) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        write(tmp)
        _fsync(tmp)
        _match_mode(tmp, p)
        os.replace(tmp, p)
    except BaseException as exc:
        mapped = write_failure(exc, p, scratch=tmp)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if mapped is not None:
            raise mapped from exc
        raise
    return p


def _delete_layers(gpkg: Path, names: Sequence[str]) -> None:
    """Remove layers from a GeoPackage with plain SQL (GDAL-compatible).

    Only ever run on :func:`write_layers`' private temporary copy, so without a
    rollback journal (three times faster on a million-row layer): a writer killed
    here leaves a stale temporary file that the next writer removes, never a
    changed workspace; the copy is fsynced before it replaces the workspace.
    """
    con = sqlite3.connect(gpkg)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        for name in names:
            row = con.execute(
                "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (name,)
            ).fetchone()
            if row:
                con.execute(f'DROP TABLE IF EXISTS "rtree_{name}_{row[0]}"')
            con.execute(f'DROP TABLE IF EXISTS "{name}"')
            for table in ("gpkg_geometry_columns", "gpkg_contents", "gpkg_extensions"):
                con.execute(f"DELETE FROM {table} WHERE table_name = ?", (name,))
        con.commit()
    finally:
        con.close()


def _match_mode(tmp: Path, target: Path) -> None:
    """Give the new file the permissions of the one it replaces (or the umask default).

    ``tempfile.mkstemp`` creates files readable by their owner only; a workspace
    shared with a service account must keep its permissions across rewrites.
    """
    if target.exists():
        shutil.copymode(target, tmp)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def check_sqlite(path: str | os.PathLike) -> None:
    """Raise WorkspaceError unless ``path`` passes SQLite's integrity check."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise WorkspaceError(
            f"the file is not a readable GeoPackage ({exc})", file=str(path)
        ) from exc
    if ok != "ok":
        raise WorkspaceError(f"the GeoPackage is damaged ({ok})", file=str(path))
