"""Submitting through the pipelined chunk writer: answers in order, scripts lost midway, and an
early exit that lets every chunk already sent land before the draft is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dispatcher.contacts import read_iterable
from dispatcher.errors import StateError
from dispatcher.producer import submit_campaign
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore
from dispatcher.store.chunks import ChunkWriter

SPEC = {"name": "t", "call": {"dutyPhone": 1, "record": {"text": "Hello"}}, "batch_size": 50}


def _phones(n: int, start: int = 0) -> list[str]:
    return [f"+1202555{i:04d}" for i in range(start, start + n)]


def _rows(phones: list[str]) -> list[tuple[str, str, str, str]]:
    return [(phone, "", "", "") for phone in phones]


def _draft(store: StateStore, campaign_id: str) -> None:
    store.create_campaign(campaign_id, "t", "{}", draft_deadline_ms=None)


def test_answers_come_back_in_the_order_chunks_were_sent(store: StateStore) -> None:
    _draft(store, "c1")
    answered: list[list[int]] = []
    with ChunkWriter(store, "c1", 50) as writer:
        answered += writer.send(_rows(_phones(3)))
        assert answered == []  # the first chunk's answer is not waited for
        answered += writer.send(_rows(_phones(3, start=2)))  # 2 new, 1 already in chunk 1
        answered += writer.send(_rows(_phones(2, start=100)))
        answered += writer.drain()
    assert answered == [[1, 1, 1], [0, 1, 1], [1, 1]]
    assert store.client.hlen(store.campaign_keys("c1").contacts) == 7
    # the connection went back to the pool in step: the next command on it answers its own reply
    assert store.client.ping() is True


def test_scripts_flushed_midway_every_chunk_still_lands_once(tmp_path: Any) -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        store = StateStore(client, "flush")

        def rows() -> Iterator[str]:
            for i, phone in enumerate(_phones(5000)):
                if i in (1500, 3200):  # as a Redis restarted empty would: scripts forgotten
                    client.script_flush()
                yield phone

        report = submit_campaign(store, _discard, parse_spec(SPEC), read_iterable(rows(), "US"))
        assert report.accepted == 5000
        assert report.duplicates == 0
        assert report.campaign_id is not None
        assert client.hlen(store.campaign_keys(report.campaign_id).contacts) == 5000
        assert report.batches == 100
        client.close()


def test_a_reader_failing_after_chunks_were_sent_leaves_no_key_behind(
    store: StateStore, redis_client: Any, settings: Settings
) -> None:
    def rows() -> Iterator[str]:
        yield from _phones(4500)  # four chunks sent, two of them possibly still unanswered
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        submit_campaign(store, _discard, parse_spec(SPEC), read_iterable(rows(), "US"))
    assert store.list_campaigns() == []
    left = [k for k in redis_client.scan_iter(match=f"{settings.key_prefix}:*") if b"{c:" in k]
    assert left == []


def test_a_script_error_is_a_state_error_naming_redis(store: StateStore) -> None:
    _draft(store, "c2")
    # A wrong type at the campaign's contacts key makes the script fail inside Redis.
    store.client.set(store.campaign_keys("c2").contacts, "not a hash")
    with ChunkWriter(store, "c2", 50) as writer:
        writer.send(_rows(_phones(3)))
        with pytest.raises(StateError, match="redis"):
            writer.drain()
    assert store.client.ping() is True


def _discard(actor: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
    """An enqueue that drops the batch messages: these tests look at what Redis holds."""
