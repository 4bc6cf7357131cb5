"""How every process reaches Redis: Sentinel addresses checked at the edge, the client options
chosen from the settings, durable claims judged and refused where the server cannot give them,
and a broker consumer that takes back what a failover stranded."""

from __future__ import annotations

import re
from typing import Any

import dramatiq
import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from dispatcher.broker_consumer import FailoverRedisBroker
from dispatcher.errors import ConfigurationError
from dispatcher.lifecycle import CampaignStatus
from dispatcher.settings import Settings, load_settings
from dispatcher.store import Durability, StateStore
from dispatcher.store.connection import (
    client_options,
    connect_redis,
    parse_sentinels,
    redis_target,
    sentinel_options,
)
from dispatcher.store.durability import require_support, unconfirmed_reason
from dispatcher.store.keys import Keys


def test_sentinel_addresses_are_parsed_with_ipv6_in_brackets() -> None:
    assert parse_sentinels("s1:26379, 10.0.0.2:26380,[::1]:26381") == [
        ("s1", 26379),
        ("10.0.0.2", 26380),
        ("::1", 26381),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s1:26379,", "entry 2 is empty"),
        ("s1", "entry 1 ('s1') is not host:port"),
        (":26379", "entry 1 (':26379') is not host:port"),
        ("s1:0", "the port must be 1-65535"),
        ("s1:http", "the port must be 1-65535"),
        ("::1:26379", "put an IPv6 address in brackets"),
        ("[::1:26379", "unclosed [ in an IPv6 address"),
        ("s1:1,s1:1", "entry 2 ('s1:1') is listed twice"),
    ],
)
def test_a_bad_sentinel_list_is_refused_naming_the_entry(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_sentinels(value)


def test_settings_name_the_variable_of_a_bad_sentinel_list() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(redis_sentinels="s1:1,s2", redis_sentinel_master="m", _env_file=None)
    assert str(caught.value) == "DISPATCHER_REDIS_SENTINELS: entry 2 ('s2') is not host:port"


def test_sentinels_without_a_master_name_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="DISPATCHER_REDIS_SENTINEL_MASTER must name"):
        load_settings(redis_sentinels="s1:1", _env_file=None)


def test_replica_durability_needs_a_replica_to_wait_for() -> None:
    with pytest.raises(ConfigurationError, match="REPLICAS must be at least 1 with"):
        load_settings(claim_durability="replica", claim_durability_replicas=0, _env_file=None)
    aof = load_settings(claim_durability="aof", claim_durability_replicas=0, _env_file=None)
    assert aof.claim_durability_replicas == 0


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_sentinels_are_used_instead_of_the_url() -> None:
    settings = _settings(
        redis_url="redis://:pw@old:6379/0",
        redis_sentinels="s1:26379,s2:26379",
        redis_sentinel_master="mymaster",
        redis_password="data-pw",
        redis_sentinel_password="sentinel-pw",
    )
    target = redis_target(settings)
    assert target.url is None
    assert target.describe() == "sentinel master 'mymaster' via s1:26379,s2:26379"
    client = connect_redis(target)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["password"] == "data-pw"
    sentinel_kwargs = pool.sentinel_manager.sentinel_kwargs
    assert sentinel_kwargs["password"] == "sentinel-pw"
    assert "data-pw" in settings.secrets()
    assert "sentinel-pw" in settings.secrets()


def test_no_client_retries_a_command_by_itself() -> None:
    # A retried command after a read timeout may run twice (a claim, an INCR): actors ride out
    # outages themselves, re-reading their state.
    for target in (
        redis_target(_settings(redis_url="redis://h:1/0")),
        redis_target(_settings(redis_sentinels="s:1", redis_sentinel_master="m")),
    ):
        assert client_options(target)["retry"].get_retries() == 0
        assert sentinel_options(target)["retry"].get_retries() == 0
    direct = connect_redis(redis_target(_settings(redis_url="redis://h:1/0")))
    assert direct.connection_pool.connection_kwargs["retry"].get_retries() == 0


def test_tls_options_go_to_rediss_urls_and_to_sentinel_nodes_only_when_asked() -> None:
    tls = {"redis_tls_ca_file": "/ca.pem", "redis_tls_check_hostname": False}
    url = client_options(redis_target(_settings(redis_url="rediss://h:6380/0", **tls)))
    assert url["ssl_ca_certs"] == "/ca.pem"
    assert url["ssl_check_hostname"] is False
    plain = client_options(redis_target(_settings(redis_url="redis://h:6379/0", **tls)))
    assert "ssl_ca_certs" not in plain
    sentinel = {"redis_sentinels": "s:1", "redis_sentinel_master": "m", **tls}
    nodes = client_options(redis_target(_settings(redis_tls=True, **sentinel)))
    assert nodes["ssl"] is True
    assert nodes["ssl_ca_certs"] == "/ca.pem"
    assert "ssl" not in sentinel_options(redis_target(_settings(redis_tls=True, **sentinel)))
    assert sentinel_options(redis_target(_settings(redis_sentinel_tls=True, **sentinel)))["ssl"]


def test_a_url_is_described_without_its_password() -> None:
    target = redis_target(_settings(redis_url="redis://user:secret@h:6379/2"))
    assert target.describe() == "redis://h:6379/2"


def test_confirmations_are_judged() -> None:
    replica = Durability("replica", 2, 100)
    assert unconfirmed_reason(replica, 2) == ""
    assert unconfirmed_reason(replica, 1) == "1 of 2 replicas confirmed within 100 ms"
    assert unconfirmed_reason(replica, redis.ResponseError("boom")) == "WAIT failed: boom"
    aof = Durability("aof", 1, 100)
    assert unconfirmed_reason(aof, [1, 1]) == ""
    assert "primary's AOF" in unconfirmed_reason(aof, [0, 1])
    assert unconfirmed_reason(aof, [1, 0]) == "fsynced on 0 of 1 replicas within 100 ms"
    assert Durability("aof", 0, 100).command() == ("WAITAOF", 1, 0, 100)


def _version(client: redis.Redis) -> tuple[int, ...]:
    return tuple(int(part) for part in str(client.info("server")["redis_version"]).split("."))


def test_aof_durability_is_refused_by_a_server_without_waitaof(redis_client: Any) -> None:
    require_support(redis_client, Durability("replica"))  # WAIT: every server
    if _version(redis_client) >= (7, 2):
        require_support(redis_client, Durability("aof"))
        return
    with pytest.raises(ConfigurationError, match=r"aof needs WAITAOF \(Redis 7.2\+\)"):
        require_support(redis_client, Durability("aof"))


def test_an_unconfirmed_claim_says_why_and_a_confirmed_one_does_not(
    settings: Settings, redis_client: Any
) -> None:
    # The suite's Redis has no replica: WAIT 1 times out with 0.
    durable = StateStore(redis_client, settings.key_prefix, durability=Durability("replica", 1, 20))
    durable.create_campaign("c1", "test", "{}")
    durable.add_contacts("c1", 2, [("15550000001", "", ""), ("15550000002", "", "")])
    durable.complete_submission("c1", CampaignStatus.RUNNING, {})
    claim = durable.claim_batch("c1", 1, 60_000, "tok")
    assert claim.outcome == "claimed"
    assert claim.unconfirmed == "0 of 1 replicas confirmed within 20 ms"
    # The caller gives it back by token: nobody was dialled.
    assert durable.release_batch("c1", 1, "tok", list(claim.phones), deadline_ms=0) == "pending"
    assert durable.counts("c1") == {"pending": 2}
    # With WAIT 0 (no replica asked for) the same pipeline confirms.
    zero = StateStore(redis_client, settings.key_prefix, durability=Durability("replica", 0, 20))
    again = zero.claim_batch("c1", 1, 60_000, "tok2")
    assert again.outcome == "claimed"
    assert again.unconfirmed == ""
    sent = zero.mark_sent("c1", 1, "tok2", "call-1", list(again.phones), 0)
    assert sent.moved == 2
    assert sent.unconfirmed == ""


def test_a_replaced_consumer_requeues_what_its_predecessor_left_stranded(
    settings: Settings, redis_client: Any
) -> None:
    namespace = Keys(settings.key_prefix).dramatiq_namespace
    broker = FailoverRedisBroker(client=redis_client, namespace=namespace)
    queue = settings.queue_name
    broker.declare_queue(queue)
    for n in range(3):
        message = dramatiq.Message(
            queue_name=queue, actor_name="a", args=(n,), kwargs={}, options={}
        )
        broker.enqueue(message)
    first = broker.consume(queue, prefetch=3, timeout=100)
    running = next(first)  # handed to a worker thread; the other two wait in the cache
    assert running is not None
    first.close()  # what a connection error does to a consumer
    acks = f"{namespace}:__acks__.{broker.broker_id}.{queue}"
    assert redis_client.scard(acks) == 3
    second = broker.consume(queue, prefetch=1, timeout=100)
    taken = next(second)
    # The two stranded ones went back to the queue (one is fetched again right away); the one
    # a worker is running was left alone.
    assert taken is not None
    assert taken.options["redis_message_id"] != running.options["redis_message_id"]
    assert redis_client.llen(f"{namespace}:{queue}") == 1
    second.ack(running)
    second.ack(taken)
    assert redis_client.scard(acks) == 0
