"""``--target`` takes several replicas, comma-separated or repeated; the commands balance their calls
over the ones that report SERVING."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pytest

from semsearch.app.prometheus import PrometheusMetrics
from semsearch.config import MetricsConfig
from semsearch.console.options import DEFAULT_TARGET, TARGET_ENV, client_parser
from semsearch.proxy.launcher import ProxyProcess
from semsearch.service.health_servicer import NOT_SERVING
from tests.service.test_cli import semsearch
from tests.support.server import Service, fixture_config

SEARCHES = "semsearch_search_duration_seconds_count"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    client_parser(parser.add_subparsers(dest="command"), "status", "show the indexes")
    return parser.parse_args(["status", *argv])


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        ((), DEFAULT_TARGET),
        (("--target", "10.0.0.1:1"), "10.0.0.1:1"),
        (("--target", "10.0.0.1:1,10.0.0.2:2"), "10.0.0.1:1,10.0.0.2:2"),
        (("--target", "10.0.0.1:1", "--target", "10.0.0.2:2"), "10.0.0.1:1,10.0.0.2:2"),
        (("--target", "10.0.0.1:1,10.0.0.2:2", "--target", "10.0.0.3:3"), "10.0.0.1:1,10.0.0.2:2,10.0.0.3:3"),
    ],
)
def test_targets_given_replace_the_default_and_add_up(
    argv: tuple[str, ...], target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TARGET_ENV, raising=False)
    assert parse(*argv).target == target


def test_the_environment_gives_the_default_and_a_flag_replaces_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TARGET_ENV, "10.0.0.1:1,10.0.0.2:2")
    assert parse().target == "10.0.0.1:1,10.0.0.2:2"
    assert parse("--target", "10.0.0.3:3").target == "10.0.0.3:3"


async def test_several_targets_that_cannot_be_combined_exit_2_naming_the_flag() -> None:
    code, out, err = await semsearch("status", "--target", "replica-a:50051", "--target", "replica-b:50051")
    assert (code, out) == (2, "")
    assert err.startswith("semsearch: --target: ") and "dns:///" in err and len(err.splitlines()) == 1


async def test_a_replica_reporting_not_serving_gets_none_of_the_commands_calls(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    config = dataclasses.replace(fixture_config(hash_proxy.url), metrics=MetricsConfig(listen="127.0.0.1:0"))
    replicas: list[Service] = [await make_service(config) for _ in range(2)]
    replicas[0].app.server.health.servicer.set("", NOT_SERVING)
    targets = [arg for r in replicas for arg in ("--target", f"127.0.0.1:{r.app.port}")]
    for _ in range(4):  # a fresh process each time: it waits for each replica's health before calling
        code, out, err = await semsearch("search", "database disk full", "--mode", "lexical", *targets)
        assert code == 0 and "Database Disk Full" in out, err

    def served(replica: Service) -> float:
        metrics = replica.app.metrics
        assert isinstance(metrics, PrometheusMetrics)
        count = metrics.registry.get_sample_value(SEARCHES, {"outcome": "ok"})
        return count or 0

    assert [served(r) for r in replicas] == [0, 4]
