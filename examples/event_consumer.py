"""Read a campaign's results from the dispatcher's event stream, with only redis-py.

Imports nothing of the dispatcher. Reads the stream `<prefix>:events` through a consumer group
(so several copies share the work and a restarted one picks up what it had not acknowledged),
follows the campaign an intake series became (`--external-id`) or a campaign id, prints every
contact's final outcome as a JSON line and stops when the campaign has ended:

    python examples/event_consumer.py --redis-url redis://localhost:6379/0 --external-id order-42

Delivery is at least once: entries are deduplicated on their id. A contact first reported
`unknown` can be reported again when the provider's late answer arrives; the last one counts.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections import defaultdict
from typing import Any

import redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--key-prefix", default="dispatcher", help="DISPATCHER_KEY_PREFIX")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--external-id", help="Follow the campaign this intake series became.")
    which.add_argument("--campaign-id")
    parser.add_argument("--group", default="example-consumer")
    parser.add_argument("--timeout-s", type=float, default=600)
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    stream = f"{args.key_prefix}:events"
    consumer = f"{socket.gethostname()}-{args.group}"
    try:  # from the oldest entry still kept: outcomes can precede the `submitted` event
        client.xgroup_create(stream, args.group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    campaign_id = args.campaign_id
    seen: set[str] = set()
    waiting: dict[str, dict[str, Any]] = defaultdict(dict)  # campaign -> phone -> outcome
    ended: set[str] = set()
    deadline = time.monotonic() + args.timeout_s
    start = "0"  # first what this consumer read before and did not acknowledge, then new ones
    while time.monotonic() < deadline:
        reply = client.xreadgroup(args.group, consumer, {stream: start}, count=200, block=1000)
        entries = reply[0][1] if reply else []
        if start == "0" and not entries:
            start = ">"
            continue
        for entry_id, fields in entries:
            if entry_id in seen or not fields:
                continue
            seen.add(entry_id)
            kind, cid = fields.get("type"), fields.get("campaign_id", "")
            if kind == "intake" and fields.get("external_id") == args.external_id:
                if fields["state"] == "refused":
                    print(json.dumps({"refused": fields.get("reason")}), flush=True)
                    sys.exit(1)
                campaign_id = cid
            elif kind == "contacts":
                for outcome in json.loads(fields["contacts"]):
                    waiting[cid][outcome["phone"]] = outcome
            elif kind == "campaign" and fields.get("ended") == "1":
                ended.add(cid)
        if entries:
            client.xack(stream, args.group, *[entry_id for entry_id, _ in entries])
        if campaign_id is not None and campaign_id in ended:
            for outcome in waiting[campaign_id].values():
                print(json.dumps({"campaign_id": campaign_id, **outcome}), flush=True)
            return
    print(json.dumps({"timeout": True, "campaign_id": campaign_id}), flush=True)
    sys.exit(2)


if __name__ == "__main__":
    main()
