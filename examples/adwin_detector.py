"""A drift detector under test: river's ADWIN on fintech.transactions amounts, alarms published for `datagen score`.

    python examples/adwin_detector.py --bootstrap-servers localhost:9092 --schema-registry-url http://localhost:8081

It reads the topic (Avro through the schema registry) with an ordinary confluent-kafka consumer,
feeds ADWIN the log of every transaction amount, and on each detected change publishes a drift
alarm referring to the event where ADWIN noticed it. It stops after --idle seconds without a new
event (or runs until Ctrl+C with --idle 0). Then `datagen score` tells how well it did.

ADWIN (Bifet & Gavalda 2007) keeps a window of recent values and drops its older part when the
two parts' means differ by more than a bound set by `delta`; a drop is a drift alarm. It assumes
values in arrival order, so read a topic in event order: one partition, or partitions that move
together in time (a live topic); a topic written long ago and read partition by partition would
look like one change per partition.
"""

from __future__ import annotations

import argparse
import math
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from river.drift import ADWIN

from producer.scoring.alarms import AlarmPublisher


def parse_args() -> argparse.Namespace:
    """The detector's flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--schema-registry-url", default="http://localhost:8081")
    parser.add_argument("--topic", default="fintech.transactions")
    parser.add_argument("--alarms-topic", default="alarms")
    parser.add_argument("--detector", default="adwin", help="the name alarms carry")
    parser.add_argument("--delta", type=float, default=0.002, help="ADWIN's confidence parameter")
    parser.add_argument("--idle", type=float, default=10.0, help="stop after this many seconds without events")
    return parser.parse_args()


def main() -> None:
    """Consume, detect, publish."""
    args = parse_args()
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": args.schema_registry_url}))
    context = SerializationContext(args.topic, MessageField.VALUE)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": f"adwin-detector-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    adwin = ADWIN(delta=args.delta)
    seen = alarms = 0
    last_event = None  # the idle clock starts once the group has given us partitions (a first join takes seconds)
    with AlarmPublisher(args.bootstrap_servers, args.schema_registry_url, topic=args.alarms_topic) as publisher:
        while args.idle <= 0 or last_event is None or time.monotonic() - last_event < args.idle:
            message = consumer.poll(0.5)
            if last_event is None and consumer.assignment():
                last_event = time.monotonic()
            if message is None or message.error() is not None:
                continue
            last_event = time.monotonic()
            event = deserialize(message.value(), context)
            if event["event_type"] != "transaction-initiated":  # later events of a transaction repeat its amount
                continue
            seen += 1
            adwin.update(math.log(float(event["payload"]["amount"]) + 1.0))
            if adwin.drift_detected:
                alarms += 1
                publisher.publish(
                    detector=args.detector,
                    topic=args.topic,
                    kind="drift",
                    event_time=event["timestamp"],
                    event_id=event["event_id"],
                    score=adwin.estimation,
                )
    consumer.close()
    print(f"adwin: {seen} amounts, {alarms} drift alarms")


if __name__ == "__main__":
    main()
