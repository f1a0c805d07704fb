"""Config: TOML, env overrides, CLI overrides, and errors that name the offending key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from semsearch.config import ConfigError, load_config, parse_config, with_overrides

BASE = Path("/srv/semsearch")
INDEX = {"name": "eips", "kind": "eip", "path": "corpora/eips"}


def test_defaults_and_relative_index_paths() -> None:
    config = parse_config({"index": [INDEX]}, BASE, env={})
    assert config.server.listen == "127.0.0.1:50051"
    assert config.embeddings.model == "e5-small"
    assert config.embeddings.url == ""
    assert config.indexes[0].path == BASE / "corpora/eips"
    assert config.indexes[0].options == {}


def test_file_values_and_index_options(tmp_path: Path) -> None:
    path = tmp_path / "semsearch.toml"
    path.write_text(
        '[server]\nlisten = "127.0.0.1:6000"\n'
        '[embeddings]\nurl = "http://127.0.0.1:8089/v1"\nbatch_size = 16\nquery_timeout_seconds = 2\n'
        '[[index]]\nname = "eips"\nkind = "eip"\npath = "/data/eips"\noptions = { chunk_chars = 400 }\n'
    )
    config = load_config(path, env={})
    assert config.server.listen == "127.0.0.1:6000"
    assert config.embeddings.batch_size == 16
    assert config.embeddings.query_timeout_seconds == 2.0
    assert config.indexes[0].path == Path("/data/eips")
    assert config.indexes[0].options == {"chunk_chars": 400}


def test_env_overrides_file_and_flags_override_env() -> None:
    env = {
        "SEMSEARCH_EMBEDDINGS_MODEL": "hash-v1",
        "SEMSEARCH_EMBEDDINGS_BATCH_SIZE": "8",
        "SEMSEARCH_EMBEDDINGS_SEND_INPUT_TYPE": "false",
    }
    config = parse_config({"embeddings": {"model": "e5-small"}, "index": [INDEX]}, BASE, env=env)
    assert (config.embeddings.model, config.embeddings.batch_size) == ("hash-v1", 8)
    assert config.embeddings.send_input_type is False
    flagged = with_overrides(config, embeddings__model="hash-v2", server__listen=None)
    assert flagged.embeddings.model == "hash-v2"
    assert flagged.server.listen == config.server.listen


@pytest.mark.parametrize(
    ("raw", "env", "message"),
    [
        ({"index": [INDEX], "servre": {}}, {}, "unknown section 'servre'"),
        ({"index": [INDEX], "server": {"port": 1}}, {}, r"\[server\]: unknown key 'port'"),
        (
            {"index": [INDEX], "embeddings": {"batch_size": "big"}},
            {},
            r"\[embeddings\].batch_size: expected int",
        ),
        ({"index": [INDEX]}, {"SEMSEARCH_EMBEDDINGS_BATCH_SIZE": "many"}, "SEMSEARCH_EMBEDDINGS_BATCH_SIZE"),
        ({"index": [INDEX], "embeddings": {"batch_size": 0}}, {}, "batch_size: must be positive"),
        ({"index": [INDEX], "embeddings": {"url": "ftp://x"}}, {}, r"\[embeddings\].url"),
        ({"index": [INDEX], "server": {"listen": "nowhere"}}, {}, r"\[server\].listen"),
        ({"index": [{**INDEX, "kind": "pdf"}]}, {}, "unknown kind 'pdf'"),
        ({"index": [{**INDEX, "colour": "red"}]}, {}, "unknown key 'colour'"),
        ({"index": [{"name": "x", "kind": "eip"}]}, {}, "'path' is required"),
        ({"index": [INDEX, INDEX]}, {}, "duplicate name 'eips'"),
        ({"index": [{**INDEX, "name": "bad name"}]}, {}, "may only hold"),
        ({"index": [INDEX], "search": {"threads": -1}}, {}, r"\[search\].threads"),
        ({"index": [INDEX], "embeddings": {"batch_size": 2048}}, {}, r"batch_size: at most 2047"),
        ({}, {}, "no \\[\\[index\\]\\] declared"),
    ],
)
def test_bad_config_names_the_key(raw: dict[str, object], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, BASE, env=env)


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(broken)


def test_shipped_default_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "config" / "default.toml", env={})
    assert config.embeddings.url == ""  # the bundled provider starts
    assert all(ix.path.is_dir() for ix in config.indexes)


def test_cache_path_expands_home_then_resolves_relative_to_the_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    home = parse_config({"cache": {"path": "~/cache/vectors.sqlite"}, "index": [INDEX]}, BASE, env={})
    assert home.cache.path == str(tmp_path / "cache" / "vectors.sqlite")
    from_env = parse_config({"index": [INDEX]}, BASE, env={"SEMSEARCH_CACHE_PATH": "~/env.sqlite"})
    assert from_env.cache.path == str(tmp_path / "env.sqlite")
    relative = parse_config({"cache": {"path": "state/vectors.sqlite"}, "index": [INDEX]}, BASE, env={})
    assert relative.cache.path == str(BASE / "state" / "vectors.sqlite")
    off = parse_config({"cache": {"path": ""}, "index": [INDEX]}, BASE, env={})
    assert off.cache.path == ""


def test_metrics_are_off_by_default_and_set_by_file_env_or_flag() -> None:
    assert parse_config({"index": [INDEX]}, BASE, env={}).metrics.listen == ""
    from_file = parse_config({"metrics": {"listen": "127.0.0.1:9464"}, "index": [INDEX]}, BASE, env={})
    assert from_file.metrics.listen == "127.0.0.1:9464"
    from_env = parse_config({"index": [INDEX]}, BASE, env={"SEMSEARCH_METRICS_LISTEN": "0.0.0.0:9100"})
    assert from_env.metrics.listen == "0.0.0.0:9100"
    assert with_overrides(from_env, metrics__listen="127.0.0.1:0").metrics.listen == "127.0.0.1:0"
    assert with_overrides(from_env, metrics__listen="").metrics.listen == ""  # a flag can turn it off


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"listen": "nowhere"}, r"\[metrics\].listen: expected host:port"),
        ({"listen": "127.0.0.1:70000"}, r"\[metrics\].listen: expected host:port"),
        ({"listen": "127.0.0.1:50051"}, r"\[metrics\].listen: must differ from \[server\].listen"),
        ({"port": 9464}, r"\[metrics\]: unknown key 'port'"),
        ({"listen": 9464}, r"\[metrics\].listen: expected str"),
    ],
)
def test_bad_metrics_config_names_the_key(metrics: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"metrics": metrics, "index": [INDEX]}, BASE, env={})


def test_store_section_defaults_to_local_and_checks_the_postgres_keys(tmp_path: Path) -> None:
    index = [{"name": "ix", "kind": "markdown", "path": str(tmp_path)}]
    assert parse_config({"index": index}, tmp_path, env={}).store.backend == "local"
    shared = parse_config(
        {"index": index, "store": {"backend": "postgres", "dsn_env": "PG"}}, tmp_path, env={"PG": "dbname=x"}
    )
    assert shared.store.dsn == "dbname=x"
    embedded = parse_config(
        {"index": index, "store": {"backend": "postgres", "embedded": True}}, tmp_path, env={}
    )
    assert embedded.store.data_dir == str(tmp_path / ".semsearch" / "postgres")
    bad = [
        ({"backend": "mysql"}, "[store].backend"),
        ({"backend": "postgres"}, "[store].dsn"),
        ({"backend": "postgres", "dsn_env": "MISSING"}, "[store].dsn_env"),
        ({"backend": "postgres", "dsn": "x", "dsn_env": "PG"}, "[store]"),
        ({"backend": "postgres", "dsn": "x", "embedded": True}, "[store].embedded"),
        ({"backend": "postgres", "dsn": "x", "pool_size": 1}, "[store]"),
    ]
    for section, key in bad:
        with pytest.raises(ConfigError, match=re.escape(key)):
            parse_config({"index": index, "store": section}, tmp_path, env={"PG": "y"})
