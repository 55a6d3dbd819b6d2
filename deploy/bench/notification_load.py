"""Drives the notification benchmark: produces referral.received + referral.assigned events at
a steady rate onto the service's topics (CloudEvents binary mode, as the other services do),
receives the resulting webhooks, and reports deliveries/s and event-to-delivery latency.
Talks to 127.0.0.1 only; stops by itself. Prints one line: RESULT rate=… p50_ms=… p99_ms=…"""
import argparse, json, sys, threading, time, uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confluent_kafka import Producer

arrivals, lock = {}, threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        now = time.time()
        # The link worker's text names the referral by its reference (first 8 characters).
        reference = body["text"].split("orientation ")[1].split(" ")[0].lower() if "orientation " in body["text"] else body["text"]
        with lock:
            arrivals.setdefault(reference, now)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def stamp(t):
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(kind, topic, subject, body, t):
    headers = [("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()), ("ce_source", b"/bench"),
               ("ce_type", kind.encode()), ("ce_subject", subject.encode()), ("ce_time", stamp(t).encode()),
               ("content-type", b"application/json")]
    return dict(topic=topic, key=subject.encode(), value=json.dumps(body).encode(), headers=headers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--link-worker", required=True)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 1, "enable.idempotence": True})
    sent = {}
    total = args.rate * args.seconds
    start = time.time()
    for i in range(total):
        due = start + i / args.rate
        while time.time() < due:
            time.sleep(0.0005)
        referral = str(uuid.uuid4())
        now = time.time()
        received = {"referralID": referral, "referralVersion": 1, "clientID": str(uuid.uuid4()), "site": "bench-site", "referrerID": "bench",
                    "referrerRole": "physician", "needs": ["loneliness"], "interests": [], "supportLevel": "medium", "priority": "routine",
                    "preferredLanguage": "fr", "ageBand": "65-74", "accessibilityNeeds": [], "preferredChannel": "email",
                    "consent": {"contact": True, "shareWithPartners": False, "evaluationUse": True}, "receivedAt": stamp(now)}
        assigned = {"referralID": referral, "referralVersion": 1, "linkWorkerID": args.link_worker, "site": "bench-site",
                    "priority": "routine", "assignedAt": stamp(now)}
        producer.produce(**event("passerelle.referral.received.v1", args.prefix + "passerelle.referrals.v1", referral, received, now))
        producer.produce(**event("passerelle.referral.assigned.v1", args.prefix + "passerelle.matching.v1", referral, assigned, now))
        producer.poll(0)
        sent[referral[:8]] = now
    producer.flush(30)
    deadline = time.time() + 60
    while time.time() < deadline:
        with lock:
            if len(arrivals) >= total:
                break
        time.sleep(0.1)
    server.shutdown()
    with lock:
        latencies = sorted((arrivals[r] - t) * 1000 for r, t in sent.items() if r in arrivals)
        last = max(arrivals.values()) if arrivals else start
    if len(latencies) < total:
        print(f"only {len(latencies)} of {total} notifications arrived", file=sys.stderr)
        sys.exit(1)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(f"RESULT delivered={len(latencies)} rate={len(latencies) / (last - start):.0f} p50_ms={pick(0.5):.1f} p99_ms={pick(0.99):.1f}")


if __name__ == "__main__":
    main()
