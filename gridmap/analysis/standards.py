"""Planning standards: default radii and per-grid rules from a TOML file.

The packaged file ``gridmap/analysis/standards.toml`` documents every default with its
source. A user's file replaces its rules and decay; radii the user's file does
not give are read from the packaged file (radii come from a standards file,
never from a constant in the code).
:func:`gridmap.analysis.indicators.check_standards` evaluates every rule for
every grid.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from gridmap.errors import InputFileError, SchemaError

#: Indicators a rule may name (columns of :func:`gridmap.analysis.indicators.grid_indicators`).
#: ``coverage_share`` and ``access_2sfca`` also need ``facility`` (and use ``radius_m``).
SIMPLE_INDICATORS = (
    "households",
    "residents",
    "elderly",
    "elderly_share",
    "ev_households",
    "charging_ports",
    "ports_per_ev_household",
    "parking_spaces",
    "spaces_per_household",
    "service_stations",
    "households_per_station",
    "grid_workers",
    "households_per_worker",
    "microgrids",
    "microgrids_in_range_share",
)
FACILITY_INDICATORS = ("coverage_share", "access_2sfca")
DECAY_KINDS = ("none", "gaussian")


@dataclass(frozen=True)
class Rule:
    """One per-grid rule of a standards file."""

    id: str
    rule: str
    indicator: str
    min: float | None = None
    max: float | None = None
    facility: str | None = None
    radius_m: float | None = None
    range_min: float | None = None
    range_max: float | None = None
    source: str = ""

    def column(self, radii: dict[str, float], default_radius: float) -> str:
        """The grid indicator column this rule reads."""
        if self.indicator in FACILITY_INDICATORS:
            r = self.radius_m or radii.get(self.facility or "", default_radius)
            return facility_column(self.indicator, self.facility or "", r)
        return self.indicator

    @property
    def threshold(self) -> str:
        """The bound as people read it: '≥ 0.85', '≤ 500', '300–500'."""
        if self.min is not None and self.max is not None:
            return f"{_fmt(self.min)}–{_fmt(self.max)}"
        if self.min is not None:
            return f"≥ {_fmt(self.min)}"
        return f"≤ {_fmt(self.max)}"

    def passes(self, value: float | None) -> bool | None:
        """True/False against the bounds; None when the figure does not exist.

        An infinite figure compares as usual (``inf`` fails a maximum).
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        ok = True
        if self.min is not None:
            ok = ok and value >= self.min - 1e-12
        if self.max is not None:
            ok = ok and value <= self.max + 1e-12
        return bool(ok)


@dataclass
class Standards:
    """Radii, decay and rules read from a standards file."""

    radii: dict[str, float] = field(default_factory=dict)
    default_radius: float = math.nan
    decay: str = "none"
    rules: list[Rule] = field(default_factory=list)
    file: str = ""

    def radius_for(self, facility: str) -> float:
        return float(self.radii.get(facility, self.default_radius))


def facility_column(indicator: str, facility: str, radius_m: float) -> str:
    """Name of a per-facility indicator column, e.g. ``coverage_share_parking_300m``."""
    return f"{indicator}_{facility}_{_fmt(radius_m)}m"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def default_standards_path() -> Path:
    """The packaged ``standards.toml``."""
    return Path(str(resources.files("gridmap.analysis").joinpath("standards.toml")))


def load_standards(path: str | os.PathLike | Standards | None = None) -> Standards:
    """Read and check a standards file (the packaged one when ``path`` is None).

    Raises
    ------
    InputFileError
        The file is missing or is not valid TOML.
    SchemaError
        A rule is incomplete or names an unknown indicator (the message names the rule).
    """
    if isinstance(path, Standards):
        return path
    p = Path(path) if path is not None else default_standards_path()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputFileError("the standards file does not exist", file=str(p)) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"the standards file is not valid TOML ({exc})", file=str(p)) from exc
    std = Standards(file=str(p))
    if path is not None and p.resolve() != default_standards_path().resolve():
        base = load_standards(None)  # radii this file does not give: the packaged file's
        std.radii, std.default_radius = dict(base.radii), base.default_radius
    radii = data.get("radii", {})
    if not isinstance(radii, dict):
        raise SchemaError("[radii] must be a table of layer = metres", file=str(p))
    for key, val in radii.items():
        if not isinstance(val, int | float) or val <= 0:
            raise SchemaError(
                f"radius for '{key}' must be a positive number of metres", file=str(p)
            )
        if key == "default":
            std.default_radius = float(val)
        else:
            std.radii[key] = float(val)
    if math.isnan(std.default_radius):
        raise SchemaError(
            "[radii] needs 'default = METRES' (the radius of other layers)", file=str(p)
        )
    decay = data.get("decay", {}).get("kind", "none")
    if decay not in DECAY_KINDS:
        raise SchemaError(f"[decay] kind must be one of {', '.join(DECAY_KINDS)}", file=str(p))
    std.decay = decay
    seen: set[str] = set()
    for n, raw in enumerate(data.get("rule", []), start=1):
        std.rules.append(_parse_rule(raw, n, p, seen))
    return std


def _parse_rule(raw: dict, n: int, p: Path, seen: set[str]) -> Rule:
    rid = str(raw.get("id") or f"rule{n}")
    where = f"rule {n} ('{rid}')"

    def num(key: str) -> float | None:
        v = raw.get(key)
        if v is None:
            return None
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise SchemaError(f"{where}: '{key}' must be a number, got {v!r}", file=str(p))
        return float(v)

    if rid in seen:
        raise SchemaError(f"{where}: the id is used twice", file=str(p))
    seen.add(rid)
    ind = raw.get("indicator")
    if ind not in SIMPLE_INDICATORS + FACILITY_INDICATORS:
        known = ", ".join(SIMPLE_INDICATORS + FACILITY_INDICATORS)
        raise SchemaError(f"{where}: unknown indicator {ind!r} (known: {known})", file=str(p))
    if ind in FACILITY_INDICATORS and not raw.get("facility"):
        raise SchemaError(f"{where}: '{ind}' needs a 'facility' layer name", file=str(p))
    rule = Rule(
        id=rid,
        rule=str(raw.get("rule") or rid),
        indicator=ind,
        min=num("min"),
        max=num("max"),
        facility=raw.get("facility"),
        radius_m=num("radius_m"),
        range_min=num("range_min"),
        range_max=num("range_max"),
        source=str(raw.get("source", "")),
    )
    if rule.min is None and rule.max is None:
        raise SchemaError(f"{where}: give 'min', 'max' or both", file=str(p))
    if rule.min is not None and rule.max is not None and rule.min > rule.max:
        raise SchemaError(
            f"{where}: 'min' ({rule.min:g}) is greater than 'max' ({rule.max:g}); "
            "no grid could pass",
            file=str(p),
        )
    if (
        rule.range_min is not None
        and rule.range_max is not None
        and rule.range_min > rule.range_max
    ):
        raise SchemaError(
            f"{where}: 'range_min' ({rule.range_min:g}) is greater than "
            f"'range_max' ({rule.range_max:g})",
            file=str(p),
        )
    if rule.radius_m is not None and rule.radius_m <= 0:
        raise SchemaError(f"{where}: 'radius_m' must be positive", file=str(p))
    if ind == "microgrids_in_range_share" and (rule.range_min is None and rule.range_max is None):
        raise SchemaError(f"{where}: give 'range_min' and/or 'range_max'", file=str(p))
    return rule
