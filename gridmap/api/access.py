"""What each role may see of a collection: rows and columns.

The columns come from the privacy policy (:mod:`gridmap.policy.privacy`, an
allow-list per layer and role):

* admin: everything;
* staff: the public columns everywhere, plus the layer's staff columns (staff
  and leader contacts, household names, phones and addresses) for rows inside
  the key's grids; households only inside those grids; unlisted columns never;
* public / anonymous: the public columns of layers whose rows are public.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.api.auth import AuthenticationError, PermissionDeniedError, Principal
from gridmap.api.state import Collection


def can_list(col: Collection, principal: Principal) -> bool:
    """True if the collection is shown to ``principal`` in /collections."""
    if principal.is_admin or col.public_frame is not None:
        return True
    return principal.is_staff and col.scope is not None


def deny(col: Collection, principal: Principal) -> Exception:
    """The error for a collection (or feature) ``principal`` may not read."""
    if not principal.authenticated:
        return AuthenticationError(
            f"collection '{col.name}' holds personal data and needs a staff or admin API key "
            "(X-API-Key header)",
            layer=col.name,
        )
    return PermissionDeniedError(
        f"your key ({principal.role}) may not read collection '{col.name}'"
        + (" outside its grids" if principal.is_staff else ""),
        layer=col.name,
    )


def in_scope(col: Collection, principal: Principal) -> np.ndarray:
    """Boolean mask of the rows whose personal data ``principal`` may see."""
    n = len(col.frame)
    if principal.is_admin:
        return np.ones(n, dtype=bool)
    if not principal.is_staff or col.scope is None:
        return np.zeros(n, dtype=bool)
    return pd.Series(col.scope, dtype=object).isin(principal.grids).to_numpy(dtype=bool)


def visible_frame(col: Collection, principal: Principal) -> gpd.GeoDataFrame:
    """The rows and columns of ``col`` that ``principal`` may read.

    Raises
    ------
    AuthenticationError, PermissionDeniedError
        The principal may not read the collection at all.
    """
    if principal.is_admin:
        return col.frame
    staff = col.staff_frame if col.staff_frame is not None else col.public_frame
    if col.public_frame is None:
        if principal.is_staff and col.scope is not None and staff is not None:
            return staff.loc[in_scope(col, principal)]
        raise deny(col, principal)
    if principal.is_staff and col.personal and col.scope is not None:
        mask = in_scope(col, principal)
        if mask.any():
            out = staff.copy()
            for c in col.personal:
                out[c] = out[c].astype(object).where(mask, None)
            return out
    return col.public_frame
