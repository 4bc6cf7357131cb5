"""Submit a campaign to the dispatcher as dramatiq messages, from a service that has only dramatiq.

Imports nothing of the dispatcher: the message contract (README, "Calling it from another
service") is all it needs. Run it with the broker's Redis URL:

    python examples/intake_send.py --redis-url redis://localhost:6379/0 --external-id order-42 \
        --parts 2 15550100001 15550100002 15550100003

Each part is one message to actor `intake_campaign` on queue `<queue>-intake`; the campaign goes
live when the last part arrives. Sending a part again is harmless (`--resend-part`).
"""

from __future__ import annotations

import argparse
import json

import dramatiq
from dramatiq.brokers.redis import RedisBroker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phones", nargs="+")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--external-id", required=True, help="Your id: makes resending safe.")
    parser.add_argument("--key-prefix", default="dispatcher", help="DISPATCHER_KEY_PREFIX")
    parser.add_argument("--queue-name", default="dispatcher", help="DISPATCHER_QUEUE_NAME")
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--resend-part", type=int, help="Send this part a second time.")
    parser.add_argument("--spec", help="The campaign spec as JSON (default: a short message).")
    args = parser.parse_args()

    broker = RedisBroker(url=args.redis_url, namespace=f"{args.key_prefix}-dramatiq")
    queue = f"{args.queue_name}-intake"
    spec = (
        json.loads(args.spec)
        if args.spec
        else {
            "name": f"intake {args.external_id}",
            "call": {"dutyPhone": 1, "record": {"text": "Hello, this is a reminder."}},
            "metadata": {"sent_by": "examples/intake_send.py"},
        }
    )
    contacts = [{"phone": phone, "ref": f"row-{i}"} for i, phone in enumerate(args.phones)]
    size = -(-len(contacts) // args.parts)
    order = list(range(1, args.parts + 1))
    if args.resend_part:
        order.insert(0, args.resend_part)  # the duplicate goes first: it must be applied once
    for part in order:
        message = dramatiq.Message(
            queue_name=queue,
            actor_name="intake_campaign",
            args=(),
            kwargs={
                "external_id": args.external_id,
                "spec": spec,
                "contacts": contacts[(part - 1) * size : part * size],
                "part": part,
                "parts": args.parts,
            },
            options={},
        )
        broker.enqueue(message)
        print(json.dumps({"sent_part": part, "message_id": message.message_id}), flush=True)


if __name__ == "__main__":
    main()
