"""Receive the dispatcher's webhook deliveries: verify the signature, deduplicate, print.

Imports nothing of the dispatcher; verification uses the `standardwebhooks` package (any Standard
Webhooks verifier in any language works the same way). Give it the deployment's
`DISPATCHER_CALLBACK_SECRET` and point a campaign's `callback_url` at it:

    python examples/webhook_receiver.py --port 8081 --secret whsec_...

Every delivery it accepts is printed as one JSON line. Deliveries are at least once: one retried
after a lost answer comes again with the same `webhook-id`, and is acknowledged but not printed
again. `--fail-first N` answers 503 to the first N requests (to watch the retries).
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--secret", required=True, help="whsec_... (DISPATCHER_CALLBACK_SECRET)")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--exit-after-finished", action="store_true")
    args = parser.parse_args()

    verifier = Webhook(args.secret)
    lock = threading.Lock()
    seen: set[str] = set()
    state = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state["requests"] += 1
                if state["requests"] <= args.fail_first:
                    print(json.dumps({"failed_on_purpose": self.headers.get("webhook-id")}))
                    return self._answer(503)
                try:
                    payload = verifier.verify(body, dict(self.headers.items()))
                except WebhookVerificationError as exc:
                    print(json.dumps({"bad_signature": str(exc)}), flush=True)
                    return self._answer(400)
                delivery_id = self.headers["webhook-id"]
                if delivery_id not in seen:  # a retry of one already taken: just say yes again
                    seen.add(delivery_id)
                    print(json.dumps({"id": delivery_id, **payload}), flush=True)
                self._answer(204)
                if args.exit_after_finished and payload["type"] == "campaign.finished":
                    threading.Thread(target=server.shutdown).start()
            return None

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: one JSON line per delivery is the output

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(json.dumps({"listening": f"http://{args.host}:{args.port}/"}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
