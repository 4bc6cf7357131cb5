"""The abuse corpus: every surface an outsider can reach, fed bad, hostile or oversized input.

One module per surface, each a table of cases; every case asserts the answer (an exit status and a
message, an error kind, an HTTP status and error code) and that nothing was written that should not
have been (not one key under the test's prefix, or the campaign's state unchanged):

* `test_cli_submit`: `dispatcher submit` with bad contacts files, specs, flags and settings;
* `test_provider_answers`: malformed, huge, HTML or hostile answers of the provider, met by the
  client, by the worker code and by a real worker process;
* `test_http_api`: the HTTP API: authentication and scopes, malformed and oversize bodies, path and
  query tricks;
* `test_webhooks`: the webhook receiver: forged and foreign tokens, other campaigns' tokens,
  foreign phones, do-not-call floods, huge IVR answers, replays, ended campaigns, sources.
"""
