"""Service settings, read from ``GRIDMAP_*`` environment variables.

Examples
--------
``GRIDMAP_WORKSPACE=community.gpkg GRIDMAP_KEYS_FILE=keys.toml gridmap serve``
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of the HTTP service.

    Every field can be set with an environment variable named ``GRIDMAP_`` plus
    the field name in capitals (``GRIDMAP_KEYS_FILE``, ``GRIDMAP_MAX_LIMIT``...).
    """

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    workspace: Path | None = Field(
        None, description="Workspace GeoPackage (default: the packaged sample)."
    )
    keys_file: Path | None = Field(
        None, description="TOML or JSON file of hashed API keys (see gridmap.api.auth)."
    )
    api_keys: str | None = Field(
        None,
        description="Hashed API keys as JSON (same entries as the keys file), for containers.",
    )
    reload_check_s: float = Field(
        1.0, ge=0, description="Check the workspace file for changes at most this often (seconds)."
    )
    default_limit: int = Field(100, ge=1, description="Default page size of /items.")
    max_limit: int = Field(10_000, ge=1, description="Largest page size; larger limits are capped.")
    key_secret: str | None = Field(
        None,
        description="Server secret for hmac-sha256 key entries (keep it out of the key file).",
    )
    privacy_file: Path | None = Field(
        None,
        description="Privacy settings (TOML, gridmap.policy.privacy); default: "
        "NAME.privacy.toml beside the workspace, if present.",
    )
    public_base_url: str | None = Field(
        None,
        description="Base URL for links and redirects, e.g. https://grid.example.org/gm "
        "(default: the request's host if it is in allowed_hosts, else the listening address).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description="Host header values (without port) trusted for links and redirects.",
    )
    max_in_flight: int = Field(
        64,
        ge=1,
        description="Requests handled at once by one worker; more get 503 with Retry-After.",
    )
    retry_after_s: int = Field(1, ge=1, description="Retry-After (seconds) of a shed request.")
    auth_failures_per_min: float = Field(
        30.0, gt=0, description="Failed API keys allowed per client address and minute."
    )
    auth_failures_burst: int = Field(
        20, ge=1, description="Failed API keys a client address may send in a burst."
    )
    key_rate_per_s: float | None = Field(
        None,
        gt=0,
        description="Requests per second per API key (None: no limit; a key entry's "
        "rate_per_s wins).",
    )
    key_rate_burst: int = Field(20, ge=1, description="Burst of requests per API key.")
    coverage_radius_min: float = Field(50.0, gt=0, description="Smallest /coverage radius (m).")
    coverage_radius_max: float = Field(5000.0, gt=0, description="Largest /coverage radius (m).")
    coverage_radius_step: float = Field(
        50.0, gt=0, description="/coverage radii are multiples of this (m), or a standard's radius."
    )
    cache_coverage: int = Field(16, ge=1, description="Coverage answers kept (LRU).")
    cache_maps: int = Field(8, ge=1, description="Rendered maps kept (LRU).")
    cache_registries: int = Field(2, ge=1, description="Address registries kept (LRU).")
    title: str = Field("gridmap", description="Service title on the landing page.")
    description: str = Field(
        "Community grid management (社区网格化管理): grids, facilities, lookup and coverage.",
        description="Service description on the landing page.",
    )


def check_port_free(host: str, port: int) -> None:
    """Fail with one clear line when ``host:port`` cannot be listened on.

    ``gridmap serve`` calls it before loading the workspace, so a port already
    in use is reported at once and without a traceback.

    Raises
    ------
    GridmapError
        The host is unknown or the port is taken (or not allowed).
    """
    import socket

    from gridmap.errors import GridmapError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise GridmapError(f"cannot listen on host '{host}' ({exc.strerror})") from exc
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise GridmapError(
                f"cannot listen on {host}:{port} ({exc.strerror}): is another server "
                "(gridmap serve?) running there? Stop it or choose another --port"
            ) from exc
