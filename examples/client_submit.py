"""Submit a campaign with the dispatcher's typed HTTP client, wait for it, read every result.

Needs only this package's client (`pip install effebot-dispatcher`; it does not need Redis or
dramatiq to be reachable) and an API token:

    python examples/client_submit.py --url http://localhost:8000 --token $TOKEN 12015550100 ...
"""

from __future__ import annotations

import argparse

from dispatcher.client import DispatcherClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phones", nargs="+")
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--key", help="Idempotency key (default: one per run, reused by retries).")
    args = parser.parse_args()

    spec = {
        "name": "Reminders",
        "call": {"dutyPhone": 1, "record": {"text": "Hello, this is a reminder."}},
        "metadata": {"batch": "example"},
    }
    contacts = [{"phone": phone, "ref": f"customer-{i}"} for i, phone in enumerate(args.phones)]
    with DispatcherClient(args.url, args.token) as client:
        report = client.submit(spec, contacts, idempotency_key=args.key)
        print(f"campaign {report.campaign_id}: {report.accepted} accepted")
        assert report.campaign_id is not None
        done = client.wait(report.campaign_id, timeout_s=3600)
        print(f"{done.status}: {done.counts}")
        for row in client.results(report.campaign_id):
            print(row["ref"], row["phone"], row["state"])


if __name__ == "__main__":
    main()
