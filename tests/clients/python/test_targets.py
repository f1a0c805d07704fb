"""How a target, or several, becomes the channel's target and its balancing options."""

from __future__ import annotations

import json

import grpc
import pytest

from semsearch_client import AsyncSemsearchClient
from semsearch_client.channel import BALANCED_SERVICE_CONFIG, SERVICE_CONFIG, channel_settings
from semsearch_client.targets import ChannelTarget, channel_target, split_targets


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:50051", ChannelTarget("127.0.0.1:50051", several=False)),
        ("localhost:50051", ChannelTarget("localhost:50051", several=False)),
        ("dns:///semsearch.internal:50051", ChannelTarget("dns:///semsearch.internal:50051", several=False)),
        (["10.0.0.1:50051"], ChannelTarget("10.0.0.1:50051", several=False)),
        (
            "10.0.0.1:50051, 10.0.0.2:50052",
            ChannelTarget("ipv4:10.0.0.1:50051,10.0.0.2:50052", several=True, authority="10.0.0.1:50051"),
        ),
        (
            ["10.0.0.1:1", "10.0.0.2:2,10.0.0.3:3"],
            ChannelTarget("ipv4:10.0.0.1:1,10.0.0.2:2,10.0.0.3:3", several=True, authority="10.0.0.1:1"),
        ),
        (
            "[::1]:50051,[0:0::1]:50052",
            ChannelTarget("ipv6:[::1]:50051,[::1]:50052", several=True, authority="[::1]:50051"),
        ),
        (
            "ipv4:10.0.0.1:1,10.0.0.2:2",
            ChannelTarget("ipv4:10.0.0.1:1,10.0.0.2:2", several=True, authority="10.0.0.1:1"),
        ),
    ],
)
def test_targets_become_one_channel_target(given: str | list[str], expected: ChannelTarget) -> None:
    assert channel_target(given) == expected


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("", "empty address"),
        ("10.0.0.1:1,", "empty address"),
        ([], "no target"),
        ("replica-a:50051,replica-b:50051", "must be IP addresses.*dns:///"),
        ("10.0.0.1:1,[::1]:2", "all IPv4 or all IPv6"),
        ("10.0.0.1,10.0.0.2:2", "host:port"),
        ("10.0.0.1:0,10.0.0.2:2", "port"),
        ("10.0.0.1:http,10.0.0.2:2", "port"),
        ("::1:5,10.0.0.2:2", r"\[address\]:port"),
        ("[::1:5,[::2]:5", r"\[address\]:port"),
        (["dns:///a:1", "10.0.0.2:2"], "scheme"),
    ],
)
def test_targets_that_cannot_be_combined_are_refused(given: str | list[str], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        channel_target(given)


def test_a_unix_socket_path_with_a_comma_stays_whole() -> None:
    assert split_targets("unix:/run/semsearch,a.sock") == ["unix:/run/semsearch,a.sock"]


def test_several_targets_are_balanced_with_health_checking_unless_told_otherwise() -> None:
    target, options = channel_settings("10.0.0.1:1,10.0.0.2:2", None, ())
    config = json.loads(dict(options)["grpc.service_config"])
    assert target == "ipv4:10.0.0.1:1,10.0.0.2:2"
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    assert config["methodConfig"] == json.loads(SERVICE_CONFIG)["methodConfig"]  # retries stay
    assert dict(options)["grpc.default_authority"] == "10.0.0.1:1"

    _, unbalanced = channel_settings("10.0.0.1:1,10.0.0.2:2", False, ())
    assert dict(unbalanced)["grpc.service_config"] == SERVICE_CONFIG
    _, one = channel_settings("127.0.0.1:1", None, ())
    assert dict(one)["grpc.service_config"] == SERVICE_CONFIG and "grpc.default_authority" not in dict(one)
    _, dns = channel_settings("dns:///semsearch.internal:50051", True, ())
    assert dict(dns)["grpc.service_config"] == BALANCED_SERVICE_CONFIG


def test_a_caller_option_still_wins() -> None:
    _, options = channel_settings("10.0.0.1:1,10.0.0.2:2", None, [("grpc.default_authority", "semsearch")])
    assert dict(options)["grpc.default_authority"] == "semsearch"


async def test_balance_belongs_to_a_target_not_to_a_callers_channel() -> None:
    channel = grpc.aio.insecure_channel("127.0.0.1:1")
    try:
        with pytest.raises(ValueError, match="balanc"):
            AsyncSemsearchClient(channel=channel, balance=True)
    finally:
        await channel.close()


async def test_a_bad_list_of_targets_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="must be IP addresses"):
        AsyncSemsearchClient("a:1,b:2")
