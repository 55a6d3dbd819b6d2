"""Drives each referral the stream got accepted on through its whole pathway, as a link worker and
a coordinator do through the services' HTTP APIs: accept and start (intake's transitions), a
contact logged, the ranked matches read and a connection proposed to the best one (matching),
the connection accepted then enrolled, a UCLA-3 baseline recorded (evaluation), for some a consent
change, completion, and for a few the client's erasure.

Every step is retried through the faults: after a connection failure or a timeout (the service
killed, cut off), after a 5xx (503 waits its Retry-After, capped), and after a 404 where the
referral has simply not reached that service yet (matches, outcomes). A step taking an
Idempotency-Key (contacts) sends the same key each time. A step without one must tell "already
done" from a real refusal: only after an attempt left unanswered (no response, or a 5xx, which
may come after the commit) is a 409 — or a 404 for an erasure — read back and taken as done when
what the step wanted is in place (the referral's status, the connection's, the client gone); a
proposal is looked up among the referral's connections before it is sent again. A 409 or 404
with no unanswered attempt before it, or whose read-back shows the step not done, is a refusal,
recorded with its answer and failed by the reconciliation."""
import http.client
import json
import queue
import threading
import time
from collections import Counter

# The step names, in order; what the reconciliation expects of each referral follows from them.
STEPS = ["accept", "start", "contact", "matches", "propose", "connection accepted", "connection enrolled", "outcome",
         "consent", "complete", "erase"]
# Which referrals get the optional steps, by the stream's number.
CONSENT_EVERY, CONSENT_AT = 4, 1
ERASE_EVERY, ERASE_AT = 10, 3
STATUS_ORDER = ["received", "accepted", "in-progress", "completed"]
CONNECTION_ORDER = ["proposed", "accepted", "enrolled", "attended"]


def changes_consent(number):
    return number % CONSENT_EVERY == CONSENT_AT


def erases(number):
    return number % ERASE_EVERY == ERASE_AT


class Refused(Exception):
    def __init__(self, step, status, payload):
        super().__init__(f"{step}: {status} {str(payload)[:300]}")
        self.step, self.status, self.payload = step, status, payload


class GaveUp(Exception):
    def __init__(self, step, seconds, last):
        super().__init__(f"{step}: no definitive answer in {seconds:.0f}s (last: {last})")
        self.step = step


class PathwayDriver:
    """Takes referral ids from the stream (`take`) and drives each through STEPS on `workers`
    threads. `urls`: service -> (host, port)."""

    def __init__(self, stream, urls, link_worker_token, coordinator_token, fallback_resources, workers=8, give_up_after=150.0,
                 retry_after_cap=1.0):
        self.stream = stream
        self.urls = urls
        self.link_worker = link_worker_token
        self.coordinator = coordinator_token
        self.fallback_resources = fallback_resources  # site -> a resource to connect to when no match is ranked
        self.workers = workers
        self.give_up_after = give_up_after
        self.retry_after_cap = retry_after_cap
        self.queue = queue.Queue()
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.threads = []
        self.states = {}            # referral -> {"done": [steps], "connection", "resource", "refused", "gave_up", ...}
        self.statuses = Counter()   # (step, status) -> answers
        self.unanswered = Counter()  # step -> attempts left without a definitive answer
        self.already_done = Counter()  # step -> 409/404 read back as done after an unanswered attempt
        self.adopted = 0            # proposals found among the connections after an unanswered attempt
        self.started_at = None
        self.busiest = 0

    # -- control ---------------------------------------------------------------------------------

    def take(self, referral):
        self.queue.put(referral)

    def start(self):
        self.started_at = time.monotonic()
        for index in range(self.workers):
            thread = threading.Thread(target=self.work, daemon=True, name=f"pathway-{index}")
            thread.start()
            self.threads.append(thread)

    def finish(self, timeout):
        """Drives what is queued to its end (bounded), then stops; returns whether it all ended."""
        self.closing.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self.threads)

    def work(self):
        connections = {}
        while True:
            try:
                referral = self.queue.get(timeout=0.2)
            except queue.Empty:
                if self.closing.is_set():
                    break
                continue
            with self.lock:
                self.busiest = max(self.busiest, self.queue.qsize())
            self.drive(referral, connections)
        for connection in connections.values():
            connection.close()

    # -- summaries ---------------------------------------------------------------------------------

    def completed(self):
        """Referrals driven through every step meant for them."""
        with self.lock:
            return {r for r, s in self.states.items() if s["finished"]}

    def erased(self):
        with self.lock:
            return {r for r, s in self.states.items() if "erase" in s["done"]}

    def consent_changed(self):
        with self.lock:
            return {r for r, s in self.states.items() if "consent" in s["done"]}

    def summary(self):
        with self.lock:
            states = list(self.states.values())
            refused = [s["refused"] for s in states if s["refused"]]
            gave_up = [s["gave_up"] for s in states if s["gave_up"]]
            return {
                "driven": len(states), "completed": sum(1 for s in states if s["finished"]),
                "consent changed": sum(1 for s in states if "consent" in s["done"]),
                "erased": sum(1 for s in states if "erase" in s["done"]),
                "refused": len(refused), "gave up": len(gave_up),
                "attempts left unanswered": dict(self.unanswered), "409/404 read back as done": dict(self.already_done),
                "proposals found after an unanswered attempt": self.adopted,
                "answers": {f"{step} {status}": count for (step, status), count in sorted(self.statuses.items())},
                "longest queue": self.busiest,
            }

    def refusals(self):
        with self.lock:
            return [(r, s["refused"]) for r, s in self.states.items() if s["refused"]] + \
                   [(r, s["gave_up"]) for r, s in self.states.items() if s["gave_up"]]

    # -- one referral --------------------------------------------------------------------------

    def drive(self, referral, connections):
        details = self.stream.details[referral]
        state = {"done": [], "connection": None, "resource": None, "refused": None, "gave_up": None, "finished": False,
                 "number": details["number"], "client": details["client"], "evaluationUse": details["evaluationUse"]}
        with self.lock:
            self.states[referral] = state
        try:
            self.run_steps(referral, details, state, connections)
            state["finished"] = True
        except Refused as refusal:
            state["refused"] = str(refusal)
        except GaveUp as gave_up:
            state["gave_up"] = str(gave_up)

    def run_steps(self, referral, details, state, connections):
        def step(name, service, method, path, body=None, token=None, **options):
            result = self.step(connections, name, service, method, path, body, token or self.link_worker, **options)
            state["done"].append(name)
            return result

        for action, reached in (("accept", "accepted"), ("start", "in-progress")):
            step(action, "intake", "POST", f"/v1/referrals/{referral}/transitions", {"action": action},
                 already=lambda _, reached=reached: self.status_reached(connections, referral, reached))
        step("contact", "intake", "POST", f"/v1/referrals/{referral}/contacts",
             {"mode": "phone", "party": "client", "reached": True, "minutes": 15}, key=f"{details['key']}-contact")
        matches = step("matches", "matching", "GET", f"/v1/referrals/{referral}/matches", not_yet=True)
        ranked = matches.get("matches") or []
        resource = (ranked[0]["resourceId"] if ranked else self.fallback_resources[details["site"]]).lower()
        state["resource"] = resource
        connection = step("propose", "matching", "POST", f"/v1/referrals/{referral}/connections", {"resourceId": resource},
                          before_retry=lambda: self.existing_connection(connections, referral, resource))
        identifier = connection["id"].lower()
        state["connection"] = identifier
        for status in ("accepted", "enrolled"):
            step(f"connection {status}", "matching", "PATCH", f"/v1/connections/{identifier}", {"status": status},
                 already=lambda _, status=status: self.connection_reached(connections, referral, identifier, status))
        # Evaluation has no read of a recorded measure: its 409 says "Already recorded", and is
        # taken as done only after an attempt of ours went unanswered.
        step("outcome", "evaluation", "POST", f"/v1/referrals/{referral}/outcomes",
             {"instrument": "ucla3", "timepoint": "baseline", "answers": [1 + details["number"] % 3, 2, 3]}, not_yet=True,
             already=lambda payload: isinstance(payload, dict) and payload.get("title") == "Already recorded")
        if changes_consent(details["number"]):
            step("consent", "intake", "PUT", f"/v1/clients/{details['client']}/consent",
                 {"contact": True, "shareWithPartners": True, "evaluationUse": not details["evaluationUse"]})
        step("complete", "intake", "POST", f"/v1/referrals/{referral}/transitions", {"action": "complete", "outcome": "connected"},
             already=lambda _: self.status_reached(connections, referral, "completed"))
        if erases(details["number"]):
            step("erase", "intake", "DELETE", f"/v1/clients/{details['client']}", token=self.coordinator,
                 already=lambda _: self.call(connections, "intake", "GET", f"/v1/clients/{details['client']}", None, self.coordinator)[0] == 404)

    # -- reading back ----------------------------------------------------------------------------

    def read(self, connections, service, path, token=None):
        """A GET retried until it answers 200 or 404 (bounded); (status, payload)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, payload = self.call(connections, service, "GET", path, None, token or self.link_worker)
                if status in (200, 404):
                    return status, payload
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise GaveUp(f"read {path}", 60, "no answer")
            time.sleep(0.3)

    def status_reached(self, connections, referral, status):
        code, view = self.read(connections, "intake", f"/v1/referrals/{referral}")
        return code == 200 and view.get("status") in STATUS_ORDER and STATUS_ORDER.index(view["status"]) >= STATUS_ORDER.index(status)

    def connection_list(self, connections, referral):
        code, payload = self.read(connections, "matching", f"/v1/referrals/{referral}/connections")
        if code != 200:
            return []
        return payload if isinstance(payload, list) else payload.get("connections", [])

    def connection_reached(self, connections, referral, identifier, status):
        for connection in self.connection_list(connections, referral):
            if connection["id"].lower() == identifier and connection["status"] in CONNECTION_ORDER:
                return CONNECTION_ORDER.index(connection["status"]) >= CONNECTION_ORDER.index(status)
        return False

    def existing_connection(self, connections, referral, resource):
        for connection in self.connection_list(connections, referral):
            if connection["resourceId"].lower() == resource:
                with self.lock:
                    self.adopted += 1
                return connection
        return None

    # -- one request, retried ----------------------------------------------------------------------

    def call(self, connections, service, method, path, body, token, key=None):
        """(status, headers, payload) of one request; raises OSError/HTTPException on a
        connection failure or timeout (the connection is then dropped)."""
        connection = connections.get(service)
        if connection is None:
            host, port = self.urls[service]
            connection = connections[service] = http.client.HTTPConnection(host, port, timeout=15)
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            connections.pop(service, None)
            raise
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connections.pop(service, None)
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text[:300].decode(errors="replace")
        return response.status, response, payload

    def step(self, connections, name, service, method, path, body, token, key=None, not_yet=False, already=None, before_retry=None):
        started = time.monotonic()
        unanswered = False
        last = None
        while True:
            if time.monotonic() - started > self.give_up_after:
                raise GaveUp(name, self.give_up_after, last)
            if unanswered and before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found
            try:
                status, response, payload = self.call(connections, service, method, path, body, token, key)
            except (OSError, http.client.HTTPException) as error:
                unanswered = True
                last = f"{type(error).__name__}: {error}"
                with self.lock:
                    self.unanswered[name] += 1
                time.sleep(0.3)
                continue
            last = status
            with self.lock:
                self.statuses[(name, status)] += 1
            if status in (200, 201, 204):
                return payload
            if status >= 500 or status == 429:
                # A 5xx may come after the commit (the connection to PostgreSQL lost on COMMIT):
                # the step may have been done.
                unanswered = True
                with self.lock:
                    self.unanswered[name] += 1
                retry_after = response.getheader("Retry-After")
                delay = float(retry_after) if retry_after and retry_after.isdigit() else 0.5
                time.sleep(min(delay, self.retry_after_cap))
                continue
            if status == 404 and not_yet:
                time.sleep(0.5)  # the referral has not reached this service yet
                continue
            if status in (404, 409) and unanswered and already is not None and already(payload):
                with self.lock:
                    self.already_done[name] += 1
                return payload
            raise Refused(name, status, payload)
