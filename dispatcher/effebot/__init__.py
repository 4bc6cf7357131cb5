"""The effebot voice-robot API: typed requests, tolerant responses, one error tree, one client.

from dispatcher.effebot import CallOptions, EffebotClient, make_http_client

with make_http_client(settings) as http:
    client = EffebotClient.from_settings(settings, http)
    answer = client.create(options.to_request(["15550000001", "15550000002"]))
"""

from __future__ import annotations

from dispatcher.effebot.client import MAX_RESPONSE_BYTES, MAX_URL_BYTES, EffebotClient
from dispatcher.effebot.errors import (
    AmbiguousError,
    AuthenticationRejected,
    ConnectionDropped,
    EffebotError,
    EndpointMissing,
    InsufficientBalance,
    MalformedResponse,
    ModerationRequired,
    OperatorActionRequired,
    ProviderServerError,
    ProviderUnreachable,
    RateLimited,
    RejectedError,
    ResponseTimeout,
    RetrySafeError,
    UnexplainedRefusal,
    UriTooLong,
    ValidationRejected,
)
from dispatcher.effebot.requests import (
    CallOptions,
    CreateCallRequest,
    CreateFromTemplateRequest,
    Ivr,
    Record,
    ReplanItem,
    TemplateCallOptions,
)
from dispatcher.effebot.responses import (
    Acknowledgement,
    CallDetails,
    CreateCallResponse,
    Language,
    Phone,
    PhoneCall,
    RecordInfo,
    RemovedRecord,
    RemoveResult,
    Template,
    UpdateResult,
    UserInfo,
)
from dispatcher.effebot.transport import make_http_client

__all__ = [
    "MAX_RESPONSE_BYTES",
    "MAX_URL_BYTES",
    "Acknowledgement",
    "AmbiguousError",
    "AuthenticationRejected",
    "CallDetails",
    "CallOptions",
    "ConnectionDropped",
    "CreateCallRequest",
    "CreateCallResponse",
    "CreateFromTemplateRequest",
    "EffebotClient",
    "EffebotError",
    "EndpointMissing",
    "InsufficientBalance",
    "Ivr",
    "Language",
    "MalformedResponse",
    "ModerationRequired",
    "OperatorActionRequired",
    "Phone",
    "PhoneCall",
    "ProviderServerError",
    "ProviderUnreachable",
    "RateLimited",
    "Record",
    "RecordInfo",
    "RejectedError",
    "RemoveResult",
    "RemovedRecord",
    "ReplanItem",
    "ResponseTimeout",
    "RetrySafeError",
    "Template",
    "TemplateCallOptions",
    "UnexplainedRefusal",
    "UpdateResult",
    "UriTooLong",
    "UserInfo",
    "ValidationRejected",
    "make_http_client",
]
