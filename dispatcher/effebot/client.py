"""`EffebotClient`: one typed method per endpoint of the reference, over a shared httpx client.

This is the only module that catches httpx exceptions; each becomes one of the errors of
`dispatcher.effebot.errors` (chained with `raise ... from`), classified by whether the request may
have taken effect. Every request writes exactly one `effebot.request` log line. The API key goes
into the JSON body (or the multipart form) and is scrubbed from anything the provider echoes back;
it is never in a log line, an error message or a repr. The one exception the reference forces is
`getAvailableLanguages` over GET (documented as a GET-request), which can only carry the key in its
query string; the client tries GET once, falls back to POST, and remembers what worked.

Answers are read the way the reference allows: a 2xx saying `"status": "error"` is classified like
any refusal (see `answers.error_for_envelope`), a 404/405 on the configurable template paths names
the setting to fix (`EndpointMissing`), and `get` keeps its URL under `MAX_URL_BYTES` whatever
`get_chunk_size` says, halving its chunk on a 414.
"""

from __future__ import annotations

import mimetypes
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
from pydantic import SecretStr, ValidationError

from dispatcher.effebot.answers import error_for_envelope, error_for_status, parse_json_body
from dispatcher.effebot.errors import (
    ConnectionDropped,
    EffebotError,
    EndpointMissing,
    MalformedResponse,
    ProviderUnreachable,
    RejectedError,
    ResponseTimeout,
    UriTooLong,
)
from dispatcher.effebot.requests import (
    PHONE_PATTERN,
    CreateCallRequest,
    CreateFromTemplateRequest,
    ReplanItem,
)
from dispatcher.effebot.responses import (
    Acknowledgement,
    CallDetails,
    CreateCallResponse,
    Language,
    Phone,
    RecordInfo,
    RemovedRecord,
    RemoveResult,
    Template,
    UpdateResult,
    UserInfo,
    parse_envelope,
    parse_identified,
    parse_identified_list,
    parse_list,
    parse_object,
)
from dispatcher.errors import ConfigurationError
from dispatcher.logs import get_logger
from dispatcher.settings import Settings

__all__ = [
    "MAX_RESPONSE_BYTES",
    "MAX_URL_BYTES",
    "TEMPLATE_CREATE_SETTING",
    "TEMPLATE_LIST_SETTING",
    "EffebotClient",
]

log = get_logger(__name__)

T = TypeVar("T")
#: on_request(endpoint, status, latency_s): told of every request (metrics); status is the HTTP
#: code, or the error class name when there was no answer.
RequestHook = Callable[[str, str, float], None]
#: How a successful request is logged (reads are frequent: DEBUG; changes: INFO).
SuccessLevel = Literal["debug", "info"]

#: Answers bigger than this are not read to the end: no endpoint has a reason to send 10 MB.
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
#: Longest `get` URL sent: under the 8 KB many servers and proxies refuse with 414 above.
MAX_URL_BYTES = 8000
#: The settings the template endpoints' paths come from (the reference does not give them).
TEMPLATE_LIST_SETTING = "DISPATCHER_TEMPLATE_LIST_PATH"
TEMPLATE_CREATE_SETTING = "DISPATCHER_TEMPLATE_CREATE_PATH"
_LANGUAGES = "apiCalls/getAvailableLanguages"
#: createRecord's `name`: unbounded in the reference, 255 like every other bounded string.
MAX_RECORD_NAME_CHARS = 255
_GET_IDS = "apiCallIdList[]"

_REDACTED = "***"
_PHONE_RE = re.compile(PHONE_PATTERN)


@dataclass
class _Exchange:
    """One provider request to make: where, what, and what to log about it."""

    path: str
    method: Literal["GET", "POST"] = "POST"
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    params: list[tuple[str, int]] | None = None
    phone_count: int | None = None
    log_fields: dict[str, Any] = field(default_factory=dict)
    success_level: SuccessLevel = "info"
    #: The setting this path comes from: a 404/405 on it means the setting is wrong.
    setting: str | None = None
    #: A create: an unexplained "status": "error" may have been applied.
    is_create: bool = False


class EffebotClient:
    """Typed access to the effebot API; borrows the process's httpx client, never makes its own."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        api_key: str | SecretStr,
        get_chunk_size: int = 50,
        template_list_path: str = "apiCalls/getTemplates",
        template_create_path: str = "apiCalls/createFromTemplate",
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        on_request: RequestHook | None = None,
    ) -> None:
        if get_chunk_size < 1:
            raise ValueError("get_chunk_size must be at least 1")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not self._api_key.get_secret_value():
            raise ValueError("api_key must not be empty")
        self._get_chunk_size = get_chunk_size
        self._template_list_path = template_list_path.strip("/")
        self._template_create_path = template_create_path.strip("/")
        self._max_response_bytes = max_response_bytes
        self._on_request = on_request
        #: How getAvailableLanguages answered last (GET as documented, or POST as sampled).
        self._languages_method: Literal["GET", "POST"] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, http: httpx.Client, on_request: RequestHook | None = None
    ) -> EffebotClient:
        """A client configured from the settings, using the given shared httpx client."""
        if settings.effebot_api_key is None:
            raise ConfigurationError("effebot_api_key is not set (DISPATCHER_EFFEBOT_API_KEY)")
        return cls(
            http,
            base_url=settings.effebot_base_url,
            api_key=settings.effebot_api_key,
            get_chunk_size=settings.get_chunk_size,
            template_list_path=settings.template_list_path,
            template_create_path=settings.template_create_path,
            on_request=on_request,
        )

    def __repr__(self) -> str:
        return f"EffebotClient(base_url={self._base_url!r})"

    # --- calls -----------------------------------------------------------------------------------

    def create(self, request: CreateCallRequest) -> CreateCallResponse:
        """`apiCalls/create`: place the calls of one request; returns its api call id."""
        # Validated again: `model_construct` and `model_copy(update=...)` skip validation.
        request = CreateCallRequest.model_validate(request.model_dump(warnings=False))
        return self._create("apiCalls/create", request.to_wire(), request.phone_count)

    def create_from_template(self, request: CreateFromTemplateRequest) -> CreateCallResponse:
        """Create calls from a stored template (path from `template_create_path`)."""
        request = CreateFromTemplateRequest.model_validate(request.model_dump(warnings=False))
        return self._create(
            self._template_create_path,
            request.to_wire(),
            request.phone_count,
            setting=TEMPLATE_CREATE_SETTING,
        )

    def _create(
        self, path: str, body: dict[str, Any], phone_count: int, setting: str | None = None
    ) -> CreateCallResponse:
        return self._request(
            _Exchange(
                path=path,
                json=body,
                phone_count=phone_count,
                log_fields={"phone_count": phone_count},
                setting=setting,
                is_create=True,
            ),
            lambda payload: parse_identified(CreateCallResponse, payload),
            lambda answer: {"api_call_id": answer.id},
        )

    def get_calls(self, ids: Sequence[int]) -> list[CallDetails]:
        """`apiCalls/get`: details of these api calls, in chunks of `get_chunk_size` ids.

        Unknown ids are simply absent from the result. A chunk is also cut short so that its URL
        stays under `MAX_URL_BYTES`; a 414 halves the chunk (remembered for later calls) and asks
        again. A failing chunk raises (the results of earlier chunks are dropped): reading is
        safe to repeat.
        """
        wanted = _ids(ids, "ids", allow_empty=True)
        details: list[CallDetails] = []
        start = 0
        while start < len(wanted):
            chunk = self._url_sized(wanted[start : start + self._get_chunk_size])
            try:
                found = self._get_chunk(chunk)
            except UriTooLong:
                if len(chunk) == 1:
                    raise
                # Refused unread: ask again with half as many ids, now and from now on.
                self._get_chunk_size = max(1, len(chunk) // 2)
                log.warning("effebot.get_chunk_reduced", get_chunk_size=self._get_chunk_size)
                continue
            details.extend(found)
            start += len(chunk)
        return details

    def _url_sized(self, chunk: list[int]) -> list[int]:
        """The longest prefix of `chunk` whose `get` URL stays under `MAX_URL_BYTES`."""
        length = len(f"{self._base_url}/apiCalls/get?")
        param = len("apiCallIdList%5B%5D=&")
        for count, call_id in enumerate(chunk):
            length += param + len(str(call_id))
            if length > MAX_URL_BYTES:
                return chunk[: max(1, count)]
        return chunk

    def _get_chunk(self, chunk: list[int]) -> list[CallDetails]:
        found: list[CallDetails] = self._request(
            _Exchange(
                path="apiCalls/get",
                json={},
                params=[(_GET_IDS, call_id) for call_id in chunk],
                log_fields={"api_call_ids": chunk},
                success_level="debug",
            ),
            lambda payload: parse_identified_list(CallDetails, payload),
            lambda items: {"found": len(items)},
        )
        return found

    def replan(self, items: Sequence[ReplanItem]) -> UpdateResult:
        """`apiCalls/update`: move planned calls to new times; returns the ids that moved."""
        if not items:
            raise ValueError("items: give at least one ReplanItem")
        call_list = [
            ReplanItem.model_validate(item.model_dump(warnings=False)).to_wire() for item in items
        ]
        return self._request(
            _Exchange(
                path="apiCalls/update",
                json={"callList": call_list},
                log_fields={"api_call_ids": [item.id for item in items]},
            ),
            lambda payload: parse_envelope(UpdateResult, payload),
            lambda result: {"updated": len(result.call_id_list)},
        )

    def remove(self, call_id: int) -> RemoveResult:
        """`apiCalls/remove` with one `id`; the provider's answer does not list what it removed."""
        (checked,) = _ids([call_id], "call_id")
        return self._request(
            _Exchange(
                path="apiCalls/remove", json={"id": checked}, log_fields={"api_call_ids": [checked]}
            ),
            lambda payload: parse_envelope(RemoveResult, payload),
        )

    def remove_many(self, ids: Sequence[int]) -> RemoveResult:
        """`apiCalls/remove` with `idList`; returns the ids actually removed (not-started calls)."""
        checked = _ids(ids, "ids")
        return self._request(
            _Exchange(
                path="apiCalls/remove",
                json={"idList": checked},
                log_fields={"api_call_ids": checked},
            ),
            lambda payload: parse_envelope(RemoveResult, payload),
            lambda result: {"removed": len(result.call_id_list)},
        )

    # --- records ---------------------------------------------------------------------------------

    def create_text_record(self, name: str, text: str) -> RecordInfo:
        """`apiCalls/createRecord` with source=text: synthesise and store an audio."""
        if not name or not text:
            raise ValueError("name and text must not be empty")
        _record_name(name)
        return self._request(
            _Exchange(
                path="apiCalls/createRecord",
                json={"name": name, "source": "text", "text": text},
                log_fields={"source": "text"},
            ),
            lambda payload: parse_identified(RecordInfo, payload),
            lambda record: {"record_id": record.id},
        )

    def create_file_record(self, name: str, content: bytes, filename: str) -> RecordInfo:
        """`apiCalls/createRecord` with source=file: upload an audio file (multipart)."""
        if not name or not filename or not content:
            raise ValueError("name, filename and content must not be empty")
        _record_name(name)
        return self._request(
            _Exchange(
                path="apiCalls/createRecord",
                form={"name": name, "source": "file"},
                files={"file": (filename, content, _content_type(filename))},
                log_fields={"source": "file", "size_bytes": len(content)},
            ),
            lambda payload: parse_identified(RecordInfo, payload),
            lambda record: {"record_id": record.id},
        )

    def remove_records(self, ids: Sequence[int]) -> list[RemovedRecord]:
        """`apiCalls/removeRecord`: delete stored audios; returns what the provider removed."""
        checked = _ids(ids, "ids")
        return self._request(
            _Exchange(
                path="apiCalls/removeRecord",
                json={"idList": checked},
                log_fields={"record_ids": checked},
            ),
            lambda payload: parse_list(RemovedRecord, payload),
        )

    # --- account ---------------------------------------------------------------------------------

    def user_info(self) -> UserInfo:
        """`apiCalls/userInfo`: the account id and balance."""
        return self._request(
            _Exchange(path="apiCalls/userInfo", json={}, success_level="debug"),
            lambda payload: parse_object(UserInfo, payload),
        )

    # `all` shadows the builtin on purpose: it is the provider's parameter name.
    def get_phones(self, all: bool = False) -> list[Phone]:
        """`apiCalls/getPhones`: the account's caller numbers (`all` as the reference has it)."""
        return self._request(
            _Exchange(path="apiCalls/getPhones", json={"all": bool(all)}, success_level="debug"),
            lambda payload: parse_list(Phone, payload),
        )

    def get_available_languages(self) -> list[Language]:
        """`apiCalls/getAvailableLanguages`: the `lang` codes a call may use.

        The reference says to send a GET-request and samples a POST: the first call tries GET
        (key in the query string, the only place a GET has) and, on 404/405, POST; the method
        that answered is used from then on.
        """
        order: list[Literal["GET", "POST"]] = ["GET", "POST"]
        if self._languages_method is not None:
            order = [self._languages_method]
        for method in order:
            try:
                languages = self._request(
                    _Exchange(
                        path=_LANGUAGES,
                        method=method,
                        json={},
                        success_level="debug",
                        log_fields={"method": method},
                    ),
                    lambda payload: parse_list(Language, payload),
                )
            except RejectedError as exc:
                if exc.status_code in (404, 405) and method != order[-1]:
                    continue  # this provider does not take that method: try the other one
                raise
            self._languages_method = method
            return languages
        raise AssertionError("unreachable: the last method's error is raised")  # pragma: no cover

    @property
    def languages_method(self) -> str | None:
        """The method getAvailableLanguages answered to, once known."""
        return self._languages_method

    def confirm_phone(self, phone: str, pin: str | int) -> Acknowledgement:
        """`apiVerificationPhones/confirmPhone`: confirm a caller number with the 4-digit pin."""
        if not _PHONE_RE.match(phone):
            raise ValueError("phone: 1 to 11 digits")
        pin_text = f"{pin:04d}" if isinstance(pin, int) and not isinstance(pin, bool) else pin
        if not isinstance(pin_text, str) or len(pin_text) != 4 or not pin_text.isdigit():
            raise ValueError("pin: exactly 4 digits")
        # Sent as a string, like the reference's sample: an int would lose a leading zero.
        return self._request(
            _Exchange(
                path="apiVerificationPhones/confirmPhone", json={"phone": phone, "pin": pin_text}
            ),
            lambda payload: parse_envelope(Acknowledgement, payload),
        )

    def list_templates(self, only_moderated: bool | None = None) -> list[Template]:
        """The account's call templates (path from `template_list_path`)."""
        body: dict[str, Any] = {}
        if only_moderated is not None:
            body["onlyModerated"] = int(only_moderated)
        return self._request(
            _Exchange(
                path=self._template_list_path,
                json=body,
                success_level="debug",
                setting=TEMPLATE_LIST_SETTING,
            ),
            lambda payload: parse_list(Template, payload),
        )

    def check_template_create_path(self) -> int:
        """Whether create-from-template exists, without creating anything; the HTTP status.

        Sends the path a request with no phone and no template, which no provider can dial:
        a validation refusal (or any answer but 404/405) means the endpoint is there. Raises
        `EndpointMissing` naming the setting when it is not.
        """
        try:
            self._request(
                _Exchange(
                    path=self._template_create_path,
                    json={},
                    success_level="debug",
                    setting=TEMPLATE_CREATE_SETTING,
                ),
                lambda payload: payload,
            )
        except EndpointMissing:
            raise
        except EffebotError as exc:
            if exc.status_code is None:
                raise  # no answer at all: nothing is known about the path
            return exc.status_code
        return 200

    # --- the one place requests are made ---------------------------------------------------------

    def _request(
        self,
        exchange: _Exchange,
        parse: Callable[[Any], T],
        describe: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        started = time.perf_counter()
        status_code: int | None = None
        try:
            status_code, retry_after, body = self._exchange(exchange)
            result = self._read(exchange, status_code, retry_after, body, parse)
        except EffebotError as error:
            self._observe(exchange, error.status_code or type(error).__name__, started)
            log.warning(
                "effebot.request",
                endpoint=exchange.path,
                status_code=error.status_code,
                error=type(error).__name__,
                message=error.message,
                latency_ms=_elapsed_ms(started),
                **exchange.log_fields,
            )
            raise
        self._observe(exchange, status_code, started)
        extra = describe(result) if describe is not None else {}
        getattr(log, exchange.success_level)(
            "effebot.request",
            endpoint=exchange.path,
            status_code=status_code,
            latency_ms=_elapsed_ms(started),
            **exchange.log_fields,
            **extra,
        )
        return result

    def _observe(self, exchange: _Exchange, status: int | str | None, started: float) -> None:
        if self._on_request is not None:
            self._on_request(exchange.path, str(status), time.perf_counter() - started)

    def _exchange(self, exchange: _Exchange) -> tuple[int, str | None, bytes]:
        """Send one request and read its whole body, translating every httpx failure."""
        key = self._api_key.get_secret_value()
        url = f"{self._base_url}/{exchange.path.lstrip('/')}"
        kwargs: dict[str, Any] = {"params": exchange.params}
        if exchange.method == "GET":
            # A GET has no body: the reference's GET form carries the key in the query string.
            kwargs["params"] = [("apiKey", key), *(exchange.params or [])]
        elif exchange.files is not None:
            kwargs["data"] = {"apiKey": key, **(exchange.form or {})}
            kwargs["files"] = exchange.files
        else:
            kwargs["json"] = {"apiKey": key, **(exchange.json or {})}
        where: dict[str, Any] = {"endpoint": exchange.path, "phone_count": exchange.phone_count}
        status_code: int | None = None
        try:
            with self._http.stream(exchange.method, url, **kwargs) as response:
                status_code = response.status_code
                retry_after = response.headers.get("retry-after")
                body = self._read_body(response, exchange)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProviderUnreachable(self._scrub(_describe(exc)), **where) from exc
        except (httpx.UnsupportedProtocol, httpx.ProxyError, httpx.InvalidURL) as exc:
            raise ProviderUnreachable(self._scrub(_describe(exc)), **where) from exc
        except httpx.TimeoutException as exc:  # read or write timeout: the request went out
            raise ResponseTimeout(
                self._scrub(_describe(exc)), status_code=status_code, **where
            ) from exc
        except httpx.DecodingError as exc:
            raise MalformedResponse(
                self._scrub(_describe(exc)), status_code=status_code, **where
            ) from exc
        except httpx.TransportError as exc:  # reset, protocol error, short body after sending
            raise ConnectionDropped(
                self._scrub(_describe(exc)), status_code=status_code, **where
            ) from exc
        return status_code, retry_after, body

    def _read_body(self, response: httpx.Response, exchange: _Exchange) -> bytes:
        declared = response.headers.get("content-length")
        limit = self._max_response_bytes
        too_big = MalformedResponse(
            f"answer bigger than {limit} bytes",
            endpoint=exchange.path,
            status_code=response.status_code,
            phone_count=exchange.phone_count,
        )
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def _read(
        self,
        exchange: _Exchange,
        status_code: int,
        retry_after: str | None,
        body: bytes,
        parse: Callable[[Any], T],
    ) -> T:
        where: dict[str, Any] = {
            "endpoint": exchange.path,
            "status_code": status_code,
            "phone_count": exchange.phone_count,
        }
        if not 200 <= status_code < 300:
            raise error_for_status(
                status_code,
                body,
                endpoint=exchange.path,
                phone_count=exchange.phone_count,
                retry_after=retry_after,
                scrub=self._scrub,
                setting=exchange.setting,
            )
        try:
            payload = parse_json_body(body)
        except ValueError as exc:
            raise MalformedResponse("the answer is not JSON", **where) from exc
        refusal = error_for_envelope(
            payload, is_create=exchange.is_create, scrub=self._scrub, **where
        )
        if refusal is not None:
            raise refusal
        try:
            return parse(payload)
        except (ValueError, ValidationError) as exc:
            raise MalformedResponse(
                f"unexpected answer shape: {self._scrub(_first_line(exc))}", **where
            ) from exc

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key.get_secret_value(), _REDACTED)


def _ids(ids: Sequence[int], what: str, *, allow_empty: bool = False) -> list[int]:
    checked = list(ids)
    if not checked and not allow_empty:
        raise ValueError(f"{what}: give at least one id")
    for value in checked:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what}: ids are positive ints, got {value!r}")
    return checked


def _record_name(name: str) -> None:
    # The reference gives no limit; the sandbox (and Laravel-style validation) stops at 255.
    if len(name) > MAX_RECORD_NAME_CHARS:
        raise ValueError(f"name: at most {MAX_RECORD_NAME_CHARS} characters")


def _content_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
