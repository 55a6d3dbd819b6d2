"""Drives the end-to-end benchmark: POSTs referrals to intake at a steady rate (open loop: each
request has its due time and is sent then, whatever earlier ones are doing), receives the link
workers' notification webhooks, and reports the latency from a referral's request being sent to
its webhook arriving. Samples each service's resident memory (VmRSS) before and during the load.
Talks to 127.0.0.1 only; stops by itself. Prints one line:
  RESULT sent=… delivered=… send_rate=… delivered_rate=… p50_ms=… p99_ms=… post_p50_ms=… post_p99_ms=… lag_ms=… rss_<name>=idle/max …"""
import argparse
import http.client
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

arrivals, lock = {}, threading.Lock()
# The link worker's text names the referral by its reference, its id's first 8 characters.
REFERENCE = re.compile(r"\b([0-9A-F]{8})\b")


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        now = time.time()
        found = REFERENCE.search(body.get("text", ""))
        if found:
            with lock:
                arrivals.setdefault(found.group(1).lower(), now)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


SITES = [("ottawa-west-chc", "fr", 45.402, -75.726, "K1Y 3B7"), ("ottawa-centretown-chc", "en", 45.414, -75.695, "K2P 1L4"),
         ("rural-east", "fr", 45.268, -75.143, "K0A 1M0")]
NEEDS = [["loneliness", "physical-activity"], ["social-isolation"], ["food-security", "income"], ["bereavement", "mental-wellbeing"]]


def referral(i):
    site, language, latitude, longitude, postal = SITES[i % len(SITES)]
    return json.dumps({
        "client": {"givenName": f"Client{i}", "familyName": "Banc", "birthDate": "1950-01-01", "contact": {"phone": "+1 613 555 0100"},
                   "preferredLanguage": language, "postalCode": postal, "coordinates": {"latitude": latitude, "longitude": longitude},
                   "preferredChannel": "sms"},
        "referrer": {"id": "bench-referrer", "role": "physician"}, "site": site, "needs": NEEDS[i % len(NEEDS)],
        "interests": ["walking"], "supportLevel": "light", "priority": "routine",
        "consent": {"contact": True, "shareWithPartners": False, "evaluationUse": True},
    }).encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--intake-port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, required=True, help="where the webhooks arrive")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--senders", type=int, default=256, help="threads sending, each on its own keep-alive connection")
    parser.add_argument("--stall", type=int, default=30, help="stop waiting for webhooks after this many seconds without one")
    parser.add_argument("--drain", type=int, default=600, help="seconds to wait for the last webhooks at most")
    parser.add_argument("--pids", default="", help="name=pid,… of the services whose memory is sampled")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    pids = dict(item.split("=") for item in args.pids.split(",") if item)
    idle = {name: rss_kib(pid) for name, pid in pids.items()}
    peak = dict(idle)
    sampling = threading.Event()

    def sample():
        while not sampling.wait(0.25):
            for name, pid in pids.items():
                peak[name] = max(peak[name], rss_kib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    total = args.rate * args.seconds
    sent, posts, failures = {}, [], []
    lags = []
    counter = iter(range(total))
    counter_lock = threading.Lock()
    start = time.time() + 0.5

    def send():
        connection = http.client.HTTPConnection("127.0.0.1", args.intake_port, timeout=30)
        headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
        while True:
            with counter_lock:
                i = next(counter, None)
            if i is None:
                return
            body = referral(i)
            due = start + i / args.rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            began = time.time()
            try:
                connection.request("POST", "/v1/referrals", body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as error:
                failures.append(f"request {i}: {error}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", args.intake_port, timeout=30)
                continue
            ended = time.time()
            if response.status != 201:
                failures.append(f"request {i}: {response.status} {answer[:200]!r}")
                continue
            reference = json.loads(answer)["id"][:8].lower()
            with lock:
                sent[reference] = began
                posts.append(ended - began)
                lags.append(began - due)

    senders = [threading.Thread(target=send) for _ in range(args.senders)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    last_send = max(sent.values()) if sent else start
    # A backlog drains at the pace notification keeps: wait while webhooks still arrive.
    deadline = time.time() + args.drain
    progress, progress_at = -1, time.time()
    while time.time() < deadline and time.time() - progress_at < args.stall:
        with lock:
            if all(reference in arrivals for reference in sent):
                break
            if len(arrivals) != progress:
                progress, progress_at = len(arrivals), time.time()
        time.sleep(0.1)
    sampling.set()
    sampler.join()
    server.shutdown()

    with lock:
        latencies = sorted((arrivals[r] - t) * 1000 for r, t in sent.items() if r in arrivals)
        last_arrival = max((arrivals[r] for r in sent if r in arrivals), default=start)
    if failures:
        print(f"{len(failures)} requests failed, e.g. {failures[0]}", file=sys.stderr)
    if not latencies:
        print(f"no notification arrived for {len(sent)} referrals sent", file=sys.stderr)
        sys.exit(1)

    def pick(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))]

    memory = " ".join(f"rss_{name}={idle[name] / 1024:.1f}/{peak[name] / 1024:.1f}" for name in pids)
    print(f"RESULT sent={len(sent)} delivered={len(latencies)} failed={len(failures)} "
          f"send_rate={len(sent) / max(last_send - start, 1e-9):.1f} delivered_rate={len(latencies) / max(last_arrival - start, 1e-9):.1f} "
          f"p50_ms={pick(latencies, 0.5):.1f} p99_ms={pick(latencies, 0.99):.1f} "
          f"post_p50_ms={pick(posts, 0.5) * 1000:.1f} post_p99_ms={pick(posts, 0.99) * 1000:.1f} lag_ms={pick(lags, 0.99) * 1000:.1f} {memory}")


if __name__ == "__main__":
    main()
