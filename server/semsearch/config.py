"""Server configuration: a TOML file, then `SEMSEARCH_<SECTION>_<KEY>` env overrides, then CLI flags.

Every key is known in advance; an unknown key or a bad value stops start-up with a message naming it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semsearch.corpus import KINDS
from semsearch.credentials import (
    NO_CREDENTIALS,
    Credentials,
    SecurityConfig,
    SecurityConfigError,
    load_credentials,
    resolve_paths,
)


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:50051"
    grace_seconds: float = 5.0
    log_format: str = "text"  # text | json
    log_level: str = "info"
    max_watch_streams: int = 256  # concurrent WatchIndexes streams; one more is RESOURCE_EXHAUSTED


@dataclass(frozen=True)
class EmbeddingsConfig:
    url: str = ""  # empty: start the bundled local provider (`semsearch proxy`)
    model: str = "e5-small"
    api_key_env: str = "SEMSEARCH_EMBEDDINGS_API_KEY"
    batch_size: int = 64
    concurrency: int = 4
    query_timeout_seconds: float = 10.0
    batch_timeout_seconds: float = 120.0
    max_retries: int = 4
    send_input_type: bool = True
    # Who picks the model: "provider-chosen" (the provider may change it: watch, park, rebuild) or
    # "client-chosen" (the provider serves models by name: MigrateModel can move without downtime).
    regime: str = "provider-chosen"
    # The bundled provider's port on 127.0.0.1 (only used while url is empty); 0 picks a free one.
    # A fixed port gives its model switch (/admin/model) an address known before start-up.
    proxy_port: int = 0


@dataclass(frozen=True)
class WatcherConfig:
    interval_seconds: float = 30.0
    jitter_fraction: float = 0.1
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 60.0


@dataclass(frozen=True)
class CacheConfig:
    path: str = ".semsearch/embeddings.sqlite"  # relative to the config file; "" turns the cache off
    keep_spaces: int = 3
    query_cache_size: int = 1024


@dataclass(frozen=True)
class SearchConfig:
    # How long a lone query waits for others to share its matrix product; 0: scored at once.
    # Queries arriving while a batch of their index is scored always wait for it and go together.
    coalesce_window_ms: float = 0.0
    max_batch: int = 64  # queries scored in one product at most; 1 turns coalescing off
    threads: int = 0  # threads sharing one large matrix product; 0: one per available core, at most 8


@dataclass(frozen=True)
class StoreConfig:
    backend: str = "local"  # local: this process's memory + the SQLite cache | postgres: shared by replicas
    dsn: str = ""  # postgres: a libpq connection string or URI
    dsn_env: str = ""  # postgres: the environment variable holding the DSN (keeps a password out of files)
    embedded: bool = False  # postgres: start a bundled PostgreSQL in data_dir (one machine)
    data_dir: str = ".semsearch/postgres"  # the embedded server's data folder, relative to the config file
    embedded_port: int = 0  # the embedded server's port on 127.0.0.1; 0 picks a free one
    pool_size: int = 4  # connections per replica for generations and the log
    poll_seconds: float = 1.0  # how often a replica checks the log without a notification


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = ""  # host:port of the Prometheus endpoint; empty: no metrics port is opened


@dataclass(frozen=True)
class IndexConfig:
    name: str
    kind: str
    path: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    pin_identifiers: bool = True  # a query naming a document (EIP number, runbook name…) gets it first


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    embeddings: EmbeddingsConfig = field(default_factory=EmbeddingsConfig)
    watcher: WatcherConfig = field(default_factory=WatcherConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    indexes: tuple[IndexConfig, ...] = ()
    # Read from [security] at parse time (token from the environment, TLS files); secrets redacted.
    credentials: Credentials = NO_CREDENTIALS


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "embeddings": EmbeddingsConfig,
    "watcher": WatcherConfig,
    "cache": CacheConfig,
    "metrics": MetricsConfig,
    "search": SearchConfig,
    "security": SecurityConfig,
    "store": StoreConfig,
}
STORE_BACKENDS = ("local", "postgres")
_INDEX_KEYS = {"name", "kind", "path", "options", "pin_identifiers"}
REGIMES = ("provider-chosen", "client-chosen")
MAX_POOL_SIZE = 100
MAX_BATCH_SIZE = 2047  # the OpenAI embeddings limit of 2,048 inputs, less the probe text
ENV_PREFIX = "SEMSEARCH_"


def _coerce(where: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of the field's default; env strings are parsed."""
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            if kind is bool:
                if text not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(text)
                return text in {"1", "true", "yes"}
            return kind(text)
        except ValueError:
            raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _section(name: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    cls = _SECTIONS[name]
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"[{name}]: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values = {key: _coerce(f"[{name}].{key}", val, getattr(defaults, key)) for key, val in raw.items()}
    for key in known:
        env_name = f"{ENV_PREFIX}{name}_{key}".upper()
        if env_name in env:
            values[key] = _coerce(env_name, env[env_name], getattr(defaults, key))
    return cls(**values)


def _index(pos: int, raw: Any, base: Path) -> IndexConfig:
    where = f"[[index]] #{pos + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(raw) - _INDEX_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_INDEX_KEYS))})")
    for key in ("name", "kind", "path"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConfigError(f"{where}: {key!r} is required and must be a non-empty string")
    name = raw["name"]
    if not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"{where}: name {name!r} may only hold letters, digits, '-', '_' and '.'")
    if raw["kind"] not in KINDS:
        raise ConfigError(f"{where} ({name}): unknown kind {raw['kind']!r} (known: {', '.join(KINDS)})")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where} ({name}): 'options' must be a table")
    pin = raw.get("pin_identifiers", True)
    if not isinstance(pin, bool):
        raise ConfigError(f"{where} ({name}): 'pin_identifiers' must be true or false")
    path = Path(os.path.expandvars(raw["path"])).expanduser()
    return IndexConfig(
        name=name,
        kind=raw["kind"],
        path=path if path.is_absolute() else base / path,
        options=options,
        pin_identifiers=pin,
    )


def parse_config(raw: Mapping[str, Any], base: Path, env: Mapping[str, str] | None = None) -> Config:
    """Build a validated Config from parsed TOML; relative index paths resolve against ``base``."""
    env = os.environ if env is None else env
    unknown = sorted(set(raw) - set(_SECTIONS) - {"index"})
    if unknown:
        raise ConfigError(f"unknown section {unknown[0]!r} (known: index, {', '.join(_SECTIONS)})")
    sections = {}
    for name in _SECTIONS:
        section = raw.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _section(name, section, env)
    index_list = raw.get("index", [])
    if not isinstance(index_list, list):
        raise ConfigError("'index' must be an array of tables: use [[index]]")
    indexes = tuple(_index(i, item, base) for i, item in enumerate(index_list))
    names = [ix.name for ix in indexes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"[[index]]: duplicate name {duplicates[0]!r}")
    cache = sections["cache"]
    if cache.path:
        # Expand `~` in the stored value too, or the cache opens a folder literally named "~".
        path = Path(cache.path).expanduser()
        sections["cache"] = dataclasses.replace(cache, path=str(path if path.is_absolute() else base / path))
    sections["security"] = resolve_paths(sections["security"], base)
    sections["store"] = _resolve_store(sections["store"], base, env)
    try:
        credentials = load_credentials(sections["security"], env)
    except SecurityConfigError as exc:
        raise ConfigError(f"[security].{exc}") from None
    config = Config(indexes=indexes, credentials=credentials, **sections)
    _validate(config)
    return config


def _resolve_store(store: StoreConfig, base: Path, env: Mapping[str, str]) -> StoreConfig:
    """The DSN read from ``dsn_env`` (never written back to a file) and the data folder made absolute."""
    if store.dsn_env:
        if store.dsn:
            raise ConfigError("[store]: set dsn or dsn_env, not both")
        dsn = env.get(store.dsn_env, "")
        if not dsn:
            raise ConfigError(f"[store].dsn_env: the environment variable {store.dsn_env} is not set")
        store = dataclasses.replace(store, dsn=dsn)
    data_dir = Path(store.data_dir).expanduser()
    return dataclasses.replace(store, data_dir=str(data_dir if data_dir.is_absolute() else base / data_dir))


def _check_listen(key: str, listen: str) -> None:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key}: expected host:port, got {listen!r}")


def _validate(config: Config) -> None:
    if config.server.log_format not in {"text", "json"}:
        raise ConfigError("[server].log_format: expected 'text' or 'json'")
    if config.server.log_level.lower() not in {"debug", "info", "warning", "error"}:
        raise ConfigError("[server].log_level: expected debug, info, warning or error")
    _check_listen("[server].listen", config.server.listen)
    if config.server.max_watch_streams < 1:
        raise ConfigError("[server].max_watch_streams: must be >= 1")
    if config.metrics.listen:
        _check_listen("[metrics].listen", config.metrics.listen)
        if config.metrics.listen == config.server.listen and not config.metrics.listen.endswith(":0"):
            raise ConfigError(
                "[metrics].listen: must differ from [server].listen (metrics have a port of their own)"
            )
    emb = config.embeddings
    if emb.url and not emb.url.startswith(("http://", "https://")):
        raise ConfigError(f"[embeddings].url: expected an http(s) URL, got {emb.url!r}")
    if not emb.model:
        raise ConfigError("[embeddings].model: must not be empty")
    if emb.regime not in REGIMES:
        raise ConfigError(f"[embeddings].regime: expected one of {', '.join(REGIMES)}, got {emb.regime!r}")
    for key in ("batch_size", "concurrency", "query_timeout_seconds", "batch_timeout_seconds"):
        if getattr(emb, key) <= 0:
            raise ConfigError(f"[embeddings].{key}: must be positive")
    if emb.batch_size > MAX_BATCH_SIZE:
        raise ConfigError(
            f"[embeddings].batch_size: at most {MAX_BATCH_SIZE} (OpenAI-compatible providers take 2,048 "
            "inputs per request, and the probe text rides along with every batch)"
        )
    if emb.max_retries < 0:
        raise ConfigError("[embeddings].max_retries: must be >= 0")
    if not 0 <= emb.proxy_port <= 65535:
        raise ConfigError("[embeddings].proxy_port: must be in [0, 65535] (0 picks a free port)")
    watcher = config.watcher
    for key in ("interval_seconds", "backoff_base_seconds", "backoff_cap_seconds"):
        if getattr(watcher, key) <= 0:
            raise ConfigError(f"[watcher].{key}: must be positive")
    if not 0 <= watcher.jitter_fraction < 1:
        raise ConfigError("[watcher].jitter_fraction: must be in [0, 1)")
    if config.cache.keep_spaces < 1 or config.cache.query_cache_size < 0:
        raise ConfigError("[cache]: keep_spaces must be >= 1 and query_cache_size >= 0")
    if not 0 <= config.search.coalesce_window_ms <= 1000 or config.search.max_batch < 1:
        raise ConfigError("[search]: coalesce_window_ms must be in [0, 1000] and max_batch >= 1")
    if not 0 <= config.search.threads <= 64:
        raise ConfigError("[search].threads: must be in [0, 64] (0: one per available core)")
    _validate_store(config.store)
    if not config.indexes:
        raise ConfigError("no [[index]] declared: nothing to serve")


def _validate_store(store: StoreConfig) -> None:
    if store.backend not in STORE_BACKENDS:
        raise ConfigError(
            f"[store].backend: expected one of {', '.join(STORE_BACKENDS)}, got {store.backend!r}"
        )
    if store.backend == "local":
        for key in ("dsn", "dsn_env", "embedded"):
            if getattr(store, key):
                raise ConfigError(f'[store].{key}: only used with backend = "postgres"')
        return
    if not store.dsn and not store.embedded:
        raise ConfigError("[store].dsn: the postgres backend needs dsn, dsn_env or embedded = true")
    if store.dsn and store.embedded:
        raise ConfigError("[store].embedded: set dsn (or dsn_env) or embedded = true, not both")
    if not 2 <= store.pool_size <= MAX_POOL_SIZE:
        raise ConfigError(f"[store].pool_size: must be in [2, {MAX_POOL_SIZE}]")
    if store.poll_seconds <= 0:
        raise ConfigError("[store].poll_seconds: must be positive")
    if not 0 <= store.embedded_port <= 65535:
        raise ConfigError("[store].embedded_port: must be in [0, 65535] (0 picks a free port)")


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML config file."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_config(raw, path.resolve().parent, env)


def with_overrides(config: Config, **overrides: Any) -> Config:
    """Apply CLI flag overrides given as ``section__key=value`` (None values are ignored)."""
    changed: dict[str, dict[str, Any]] = {}
    for flag, value in overrides.items():
        if value is None:
            continue
        section, key = flag.split("__", 1)
        current = getattr(config, section)
        changed.setdefault(section, {})[key] = _coerce(f"--{key}", value, getattr(current, key))
    replaced = {s: dataclasses.replace(getattr(config, s), **kv) for s, kv in changed.items()}
    result = dataclasses.replace(config, **replaced)
    _validate(result)
    return result
