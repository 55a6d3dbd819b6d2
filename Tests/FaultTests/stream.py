"""A steady stream of referrals through POST /v1/referrals, as an EHR integration would send them:
every referral has its own Idempotency-Key and is retried with that same key until intake gives a
definitive answer (201 created, or 200 for a key it already took). 503s are honoured (Retry-After,
capped so the stream keeps its pace) and counted; connection failures (intake killed) retried."""
import http.client
import json
import random
import threading
import time
from collections import Counter

SITES = [
    ("ottawa-west-chc", 45.40, -75.72, "k1y"),
    ("ottawa-centretown-chc", 45.41, -75.69, "k2p"),
    ("rural-east", 45.45, -75.20, "k0a"),
]
NEEDS = ["loneliness", "social-isolation", "physical-activity", "food-security", "mental-wellbeing", "bereavement",
         "arts-culture", "nature", "income", "housing", "learning-literacy", "caregiver-support"]
INTERESTS = ["walking", "knitting", "gardening", "music", "cooking", "reading", "chess", "painting", "yoga"]
LANGUAGES = ["fr", "en"]


def referral_body(tag, number, rng):
    site, latitude, longitude, area = rng.choice(SITES)
    return {
        "client": {
            "givenName": f"Client{number}", "familyName": tag.replace("-", " ").title(),
            "birthDate": f"{rng.randint(1935, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "contact": {"phone": f"+1 613 555 {number % 10000:04d}"},
            "preferredLanguage": rng.choice(LANGUAGES),
            "postalCode": f"{area} {rng.randint(1, 9)}e{rng.randint(1, 9)}",
            "coordinates": {"latitude": latitude + rng.uniform(-0.03, 0.03), "longitude": longitude + rng.uniform(-0.03, 0.03)},
            "preferredChannel": "sms",
        },
        "referrer": {"id": tag, "role": "physician", "organisation": "Fault tests"},
        "site": site,
        "needs": rng.sample(NEEDS, rng.randint(1, 3)),
        "interests": rng.sample(INTERESTS, rng.randint(0, 2)),
        "supportLevel": rng.choice(["signposting", "light", "medium", "holistic"]),
        "priority": rng.choice(["routine", "routine", "urgent"]),
        "consent": {"contact": True, "shareWithPartners": True, "evaluationUse": rng.random() < 0.8},
    }


class ReferralStream:
    """Sends referrals at `rate` per second from `workers` threads until stopped."""

    def __init__(self, tag, intake_port, token, rate=20.0, workers=6, retry_after_cap=1.0, give_up_after=120.0, intake_host="127.0.0.1"):
        self.tag = tag
        self.host = intake_host
        self.port = intake_port
        self.token = token
        self.rate = rate
        self.workers = workers
        self.retry_after_cap = retry_after_cap
        self.give_up_after = give_up_after
        self.lock = threading.Lock()
        self.next_number = 0
        self.skipped = 0
        self.stopping = threading.Event()
        self.stopped_at = None
        self.threads = []
        self.accepted = {}       # idempotency key -> referral id (lower case)
        # referral id -> {"key", "number", "client", "site", "evaluationUse"}: what the pathway driver needs
        self.details = {}
        # Called with each referral id once intake has given it (the pathway driver takes it on).
        self.listeners = []
        self.first_status = {}   # idempotency key -> status of the definitive answer (201 or 200)
        self.unresolved = []     # keys never answered definitively (gave up)
        self.rejected = []       # (key, status, body) answers that are neither success nor retryable
        self.responses = Counter()  # every HTTP status seen
        self.connection_errors = 0
        self.unavailable_without_retry_after = 0
        self.retried_keys = set()
        self.started_at = None

    # -- control -------------------------------------------------------------------------------

    def start(self):
        self.started_at = time.monotonic()
        for index in range(self.workers):
            thread = threading.Thread(target=self.work, args=(index,), daemon=True, name=f"stream-{index}")
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout):
        """Stops taking new referrals; those in flight finish their retries (bounded)."""
        self.stopped_at = time.monotonic()
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self.threads)

    @property
    def sent(self):
        with self.lock:
            return self.next_number - self.skipped

    def summary(self):
        with self.lock:
            created = sum(1 for status in self.first_status.values() if status == 201)
            return {
                "sent": self.next_number - self.skipped, "accepted": len(self.accepted), "created_201": created,
                "idempotent_200": len(self.accepted) - created, "retried_referrals": len(self.retried_keys),
                "responses": dict(sorted(self.responses.items())), "connection_errors": self.connection_errors,
                "unavailable_503": self.responses.get(503, 0),
                "unavailable_without_retry_after": self.unavailable_without_retry_after,
                "unresolved": len(self.unresolved), "rejected": len(self.rejected),
            }

    # -- the workers -------------------------------------------------------------------------

    def take_number(self):
        with self.lock:
            if self.stopping.is_set():
                return None
            number = self.next_number
            self.next_number += 1
            return number

    def work(self, index):
        rng = random.Random(f"{self.tag}-{index}")
        connection = None
        while True:
            number = self.take_number()
            if number is None:
                break
            due = self.started_at + number / self.rate
            pause = due - time.monotonic()
            if pause > 0 and self.stopping.wait(pause):
                with self.lock:
                    self.skipped += 1  # taken but stopped before it was due: never sent
                break
            body = referral_body(self.tag, number, rng)
            connection = self.submit(number, body, connection)
        if connection is not None:
            connection.close()

    def submit(self, number, body, connection):
        key = f"{self.tag}-{number:05d}"
        payload = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Idempotency-Key": key}
        first_try = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            if attempts > 1:
                with self.lock:
                    self.retried_keys.add(key)
            if self.stopping.is_set() and time.monotonic() - max(first_try, self.stopped_at or first_try) > self.give_up_after:
                with self.lock:
                    self.unresolved.append(key)
                return connection
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(self.host, self.port, timeout=15)
                connection.request("POST", "/v1/referrals", body=payload, headers=headers)
                response = connection.getresponse()
                text = response.read()
                status = response.status
                retry_after = response.getheader("Retry-After")
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.connection_errors += 1
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.2)
                continue
            with self.lock:
                self.responses[status] += 1
            if status in (200, 201):
                view = json.loads(text)
                identifier = view["id"].lower()
                with self.lock:
                    self.accepted[key] = identifier
                    self.first_status[key] = status
                    self.details[identifier] = {"key": key, "number": number, "client": view["clientId"].lower(), "site": view["site"],
                                                "evaluationUse": body["consent"]["evaluationUse"], "phone": body["client"]["contact"]["phone"],
                                                "givenName": body["client"]["givenName"]}
                for listener in self.listeners:
                    listener(identifier)
                return connection
            if status == 503:
                if retry_after is None:
                    with self.lock:
                        self.unavailable_without_retry_after += 1
                delay = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
                time.sleep(min(delay, self.retry_after_cap))
                continue
            if status >= 500 or status == 429:
                # Not a documented answer for a dependency outage: counted (and failed on by the
                # scenario), but retried so the referral is not lost to the stream's own bookkeeping.
                time.sleep(0.5)
                continue
            with self.lock:
                self.rejected.append((key, status, text[:500].decode(errors="replace")))
            return connection
