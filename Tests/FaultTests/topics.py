"""Reading whole topics from their start (no consumer group, nothing committed) and producing the
poison records, with confluent-kafka on the broker's loopback port."""
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

REFERRALS = "passerelle.referrals.v1"
CLIENTS = "passerelle.clients.v1"
MATCHING = "passerelle.matching.v1"
NOTIFICATIONS = "passerelle.notifications.v1"
EVALUATION = "passerelle.evaluation.v1"


class Record:
    __slots__ = ("topic", "partition", "offset", "key", "headers", "value")

    def __init__(self, message):
        self.topic = message.topic()
        self.partition = message.partition()
        self.offset = message.offset()
        key = message.key()
        self.key = key.decode(errors="replace").lower() if key is not None else None
        self.headers = {name: (value.decode(errors="replace") if value is not None else None)
                        for name, value in (message.headers() or [])}
        self.value = message.value()

    @property
    def event_id(self):
        value = self.headers.get("ce_id")
        return value.lower() if value else None

    @property
    def event_type(self):
        return self.headers.get("ce_type")


def read_topics(bootstrap, names, idle=2.0, timeout=90):
    """Every record of the named topics, from their start until nothing more arrives for `idle`
    seconds. The high watermarks the broker reports are only a lower bound: Tansu 0.6 on S3
    storage can answer ListOffsets with a stale high watermark while Fetch returns more."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"faults-reader-{uuid.uuid4()}", "enable.auto.commit": False,
        "enable.partition.eof": False, "auto.offset.reset": "earliest", "log_level": 3,
    })
    try:
        assignment, hints = [], {}
        for name in names:
            described = consumer.list_topics(name, timeout=15).topics.get(name)
            if described is None or described.error is not None:
                raise RuntimeError(f"topic {name} is not available: {described.error if described else 'missing'}")
            for partition in described.partitions:
                assignment.append(TopicPartition(name, partition, OFFSET_BEGINNING))
                _, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=15)
                if high > 0:
                    hints[(name, partition)] = high
        consumer.assign(assignment)
        records = {name: [] for name in names}
        seen = set()
        started = last = time.monotonic()
        while True:
            now = time.monotonic()
            if now - started > timeout:
                raise RuntimeError(f"reading {names} did not finish within {timeout:.0f}s; watermarks not reached: {sorted(hints)[:5]}")
            if not hints and now - last >= idle:
                break
            for message in consumer.consume(1000, timeout=0.5):
                if message.error():
                    continue
                place = (message.topic(), message.partition(), message.offset())
                if place in seen:
                    continue
                seen.add(place)
                last = time.monotonic()
                records[message.topic()].append(Record(message))
                if hints.get(place[:2], 0) <= message.offset() + 1:
                    hints.pop(place[:2], None)
        return records
    finally:
        consumer.close()


def read_topic(bootstrap, name, **options):
    return read_topics(bootstrap, [name], **options)[name]


def produce(bootstrap, records, timeout=30):
    """Sends (topic, key, value, headers) tuples and waits for every delivery report."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "log_level": 3})
    failures = []

    def report(error, message):
        if error is not None:
            failures.append(str(error))

    for topic, key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
    left = producer.flush(timeout)
    if left or failures:
        raise KafkaException(f"poison records not delivered: {left} pending, errors {failures}")
