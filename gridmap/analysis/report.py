"""``gridmap coverage`` as one library call: coverage, the standards check, proposed sites, the file.

:func:`coverage_report` decides what a coverage run includes (the per-grid
standards are checked when a standards file is given or the output file holds
them) and :meth:`CoverageReport.to_json` is the JSON document of the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridmap.analysis.coverage import (
    COVERAGE_COLUMNS,
    FAST_JOIN_POINTS,
    CoverageResult,
    compute_coverage,
    make_context,
    write_coverage,
)
from gridmap.analysis.indicators import check_standards, grid_indicators
from gridmap.analysis.siting import propose_sites, sites_to_json
from gridmap.analysis.standards import Standards, load_standards
from gridmap.join.inplace import coded_join_for
from gridmap.policy.jsonsafe import json_records
from gridmap.workspace import store as io

__all__ = ["CoverageReport", "coverage_report"]

#: Output files that carry the per-grid indicators and the standards check.
FULL_OUTPUTS = (".xlsx", ".gpkg")


@dataclass
class CoverageReport:
    """One coverage run: the result and what came with it (None where not asked for)."""

    result: CoverageResult
    standards: Standards
    indicators: gpd.GeoDataFrame | None = None
    checks: pd.DataFrame | None = None
    sites: gpd.GeoDataFrame | None = None
    written_to: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The coverage JSON document, with ``standards``, ``proposed_sites``, ``written_to``."""
        doc = self.result.to_json()
        if self.checks is not None:
            checks = self.checks
            failing = checks[checks["passed"].map(lambda v: v is False)]
            doc["standards"] = {
                "file": self.standards.file,
                "results": json_records(checks.drop(columns=["source"])),
                "failing": {
                    g: list(s) for g, s in failing.groupby("grid_id", sort=True)["rule_id"]
                },
            }
        if self.sites is not None:
            doc["proposed_sites"] = sites_to_json(self.sites)
        if self.written_to is not None:
            doc["written_to"] = str(self.written_to)
        return doc


def coverage_report(
    workspace: str | os.PathLike | io.Workspace | None,
    facility: str,
    radius: float | None = None,
    *,
    distance: str = "auto",
    standards: str | os.PathLike | None = None,
    propose: int | None = None,
    candidates: str = "grid_centroids",
    weight: str = "households",
    out: str | os.PathLike | None = None,
) -> CoverageReport:
    """Coverage of one facility layer, with the standards check, proposed sites and a file.

    Parameters
    ----------
    workspace
        Workspace path or loaded workspace (default: the packaged sample).
    facility, radius, distance
        As :func:`gridmap.analysis.coverage.compute_coverage` (radius None: the
        standards file's radius for the layer).
    standards
        A standards TOML replacing the packaged one. When given (or when ``out``
        is ``.xlsx``/``.gpkg``) every grid is checked against its rules.
    propose, candidates, weight
        Propose ``propose`` new sites (:func:`gridmap.analysis.siting.propose_sites`).
    out
        Write ``.xlsx`` (all levels), ``.csv`` (grids) or ``.gpkg`` atomically.

    Returns
    -------
    CoverageReport
    """
    std = load_standards(standards)
    target = Path(out) if out is not None else None
    checked = standards is not None or (
        target is not None and target.suffix.lower() in FULL_OUTPUTS
    )
    full = checked or propose is not None
    coded = None
    if isinstance(workspace, io.Workspace):
        ws = workspace
    else:
        # many households: joined with the cached chain and cell indexes of the file
        coded = coded_join_for(io.resolve_workspace(workspace), "households", FAST_JOIN_POINTS)
        if full:  # the indicators and the siting may read any layer
            ws = io.load_workspace(workspace)
        else:  # coverage alone: only its layers, only the columns it reads
            cols = {**COVERAGE_COLUMNS, facility: None}
            ws = io.load_workspace(workspace, list(cols), columns=cols)
    ctx = make_context(ws, distance, coded=coded)
    result = compute_coverage(ws, facility, radius, standards=std, context=ctx)
    want_checks = checked and "grids" in ws
    if standards is not None and "grids" not in ws:
        result.notes.append("the workspace has no 'grids' layer; standards not checked")
    report = CoverageReport(result, std)
    if want_checks:
        report.indicators = grid_indicators(ws, standards=std, context=ctx)
        report.checks = check_standards(ws, std, indicators=report.indicators)
        # e.g. a rule naming a layer the workspace lacks: say why its figures are n/a
        result.notes.extend(
            n for n in report.indicators.attrs.get("notes", []) if n not in result.notes
        )
    if propose is not None:
        report.sites = propose_sites(
            ws,
            facility,
            propose,
            result.radius_m,
            candidates,
            weight=weight,
            standards=std,
            context=ctx,
        )
    if target is not None:
        write_coverage(
            target,
            result,
            indicators=report.indicators,
            standards=report.checks,
            sites=report.sites,
        )
        report.written_to = target
    return report
