from __future__ import annotations

import redis

from dispatcher.redis_server import EmbeddedRedis, find_redis_server


def test_embedded_redis_starts_answers_and_stops() -> None:
    server = EmbeddedRedis().start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        server.stop()
    probe = redis.Redis.from_url(server.url, socket_connect_timeout=0.5)
    try:
        probe.ping()
        raise AssertionError("server still answers after stop")
    except redis.ConnectionError:
        pass
    finally:
        probe.close()


def test_embedded_redis_with_aof_keeps_data_across_restart() -> None:
    with EmbeddedRedis(appendonly=True) as server:
        client = redis.Redis.from_url(server.url)
        client.set("survives", "yes")
        client.close()
        server.restart()
        client = redis.Redis.from_url(server.url)
        assert client.get("survives") == b"yes"
        client.close()


def test_a_redis_server_binary_is_found() -> None:
    assert find_redis_server().endswith("redis-server")


def test_suite_redis_is_real_and_isolated(redis_client: redis.Redis, key_prefix: str) -> None:
    redis_client.set(f"{key_prefix}:probe", "1")
    assert redis_client.get(f"{key_prefix}:probe") == b"1"
    assert redis_client.info("server")["redis_version"]
