from __future__ import annotations

import pickle

import httpx
import pytest
from pydantic import SecretStr

import dispatcher.effebot
from dispatcher.effebot import (
    AmbiguousError,
    ConnectionDropped,
    EffebotClient,
    EffebotError,
    MalformedResponse,
    ProviderServerError,
    ProviderUnreachable,
    RateLimited,
    RejectedError,
    ResponseTimeout,
    RetrySafeError,
    ValidationRejected,
    make_http_client,
)
from dispatcher.errors import ConfigurationError, DispatcherError
from dispatcher.settings import Settings


def test_every_public_name_is_exported_and_exists() -> None:
    exported = set(dispatcher.effebot.__all__)
    public = {name for name in vars(dispatcher.effebot) if not name.startswith("_")}
    modules = {"client", "errors", "requests", "responses", "transport", "answers", "coerce"}
    assert public - modules - {"annotations"} == exported
    for name in exported:
        assert getattr(dispatcher.effebot, name) is not None


def test_the_tree_hangs_off_the_dispatcher_root() -> None:
    assert issubclass(EffebotError, DispatcherError)
    for leaf, subtree in [
        (ProviderUnreachable, RetrySafeError),
        (RateLimited, RetrySafeError),
        (ResponseTimeout, AmbiguousError),
        (ConnectionDropped, AmbiguousError),
        (ProviderServerError, AmbiguousError),
        (MalformedResponse, AmbiguousError),
        (ValidationRejected, RejectedError),
    ]:
        assert issubclass(leaf, subtree)


def test_errors_survive_pickling_with_every_attribute() -> None:
    errors: list[EffebotError] = [
        ValidationRejected(
            "bad",
            endpoint="apiCalls/create",
            status_code=422,
            phone_count=2,
            provider_message="bad",
            fields={"phone": ["required"]},
        ),
        RateLimited("slow", endpoint="apiCalls/get", retry_after_s=1.5),
        ResponseTimeout("late", endpoint="apiCalls/create", phone_count=10),
    ]
    for error in errors:
        back = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
        assert type(back) is type(error)
        assert back.__dict__ == error.__dict__
        assert str(back) == str(error)


def test_an_error_without_a_response_says_so() -> None:
    error = ProviderUnreachable("ConnectError: refused", endpoint="apiCalls/create")
    assert str(error) == "apiCalls/create: no response: ConnectError: refused"
    assert error.status_code is None


def test_the_client_repr_never_shows_the_key() -> None:
    with httpx.Client() as http:
        client = EffebotClient(http, base_url="http://x/", api_key="live-key-0123456789")
        assert "live-key" not in repr(client)
        assert "live-key" not in str(vars(client))


def test_from_settings_needs_a_key() -> None:
    with httpx.Client() as http:
        with pytest.raises(ConfigurationError, match="effebot_api_key"):
            EffebotClient.from_settings(Settings(effebot_api_key=None), http)
        client = EffebotClient.from_settings(
            Settings(effebot_api_key=SecretStr("k-123456"), effebot_base_url="http://h:1/"), http
        )
        assert repr(client) == "EffebotClient(base_url='http://h:1')"


def test_client_misuse_is_a_value_error() -> None:
    with httpx.Client() as http:
        client = EffebotClient(http, base_url="http://x", api_key="k-123456")
        with pytest.raises(ValueError, match="ids"):
            client.remove_many([])
        with pytest.raises(ValueError, match="positive"):
            client.get_calls([0])
        with pytest.raises(ValueError, match="items"):
            client.replan([])
        with pytest.raises(ValueError, match="pin"):
            client.confirm_phone("15550000001", "12")
        with pytest.raises(ValueError, match="phone"):
            client.confirm_phone("+1555", "1234")
        assert client.get_calls([]) == []
        with pytest.raises(ValueError, match="chunk"):
            EffebotClient(http, base_url="http://x", api_key="k", get_chunk_size=0)


def test_the_shared_http_client_has_explicit_timeouts_limits_and_accept() -> None:
    settings = Settings(
        connect_timeout_s=1.5,
        read_timeout_s=7.0,
        write_timeout_s=3.0,
        pool_timeout_s=2.0,
        max_connections=4,
    )
    with make_http_client(settings) as http:
        assert http.timeout == httpx.Timeout(connect=1.5, read=7.0, write=3.0, pool=2.0)
        assert http.headers["accept"] == "application/json"
        assert http.follow_redirects is False
