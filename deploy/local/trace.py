#!/usr/bin/env python3
"""Follows one new referral through the whole loop on a running system, printing each step as
it happens: what the services publish on the topics, what reaches people (the local inbox), and
the human steps a link worker takes through the APIs.

  received -> assigned to a link worker -> matched (resources with reasons) -> link worker
  notified -> accepted, client and referrer notified -> started -> connected to a resource
  (matching's API) -> completed (intake) -> outcome recorded (evaluation) -> evaluation report

With `--close ID...` it instead takes those referrals through the same steps quietly (the demo's
history, so reports have closed pathways to count).

It reads the topics from their current end (so only this referral's events show), posts the
referral as its referrer, and waits a bounded time for each step; a step that does not come
ends the trace with an error naming it. Talks to the services, the broker and the inbox only.

Environment (defaults suit deploy/local/up.sh):
  PASSERELLE_{INTAKE,MATCHING,NOTIFICATION,EVALUATION}_URL  http://127.0.0.1:8081 ... 8084
  PASSERELLE_KAFKA_BOOTSTRAP   127.0.0.1:59092        PASSERELLE_TOPIC_PREFIX  (none)
  PASSERELLE_INBOX_URL         http://127.0.0.1:8090  (deploy/local/inbox.py; optional)
  PASSERELLE_JWT_*             as the services read them; tokens are signed by dev-token.py beside this script
  PASSERELLE_EVALUATION_PSEUDONYM_KEY  evaluation's key, to follow the de-identified pathway
  TRACE_STEP_TIMEOUT           seconds to wait for each step (30)
"""
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime

from confluent_kafka import Consumer, KafkaException, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ENV = os.environ
URL = {name: ENV.get(f"PASSERELLE_{name.upper()}_URL", f"http://127.0.0.1:{port}")
       for name, port in [("intake", 8081), ("matching", 8082), ("notification", 8083), ("evaluation", 8084)]}
INBOX = ENV.get("PASSERELLE_INBOX_URL", "http://127.0.0.1:8090")
BOOTSTRAP = ENV.get("PASSERELLE_KAFKA_BOOTSTRAP", "127.0.0.1:59092")
PREFIX = ENV.get("PASSERELLE_TOPIC_PREFIX", "")
STEP_TIMEOUT = float(ENV.get("TRACE_STEP_TIMEOUT", "30"))
# Shared/Contracts TopicName, with the deployment's prefix.
TOPICS = {PREFIX + name: short for name, short in [
    ("passerelle.referrals.v1", "referrals"), ("passerelle.matching.v1", "matching"),
    ("passerelle.notifications.v1", "notifications"), ("passerelle.evaluation.v1", "evaluation")]}

REFERRER = "dr-tremblay"
REFERRAL = {
    "client": {"givenName": "Gilles", "familyName": "Bouchard", "birthDate": "1950-08-17",
               "contact": {"phone": "+1 613 555 0188", "email": "gilles.bouchard@example.org"},
               "preferredLanguage": "fr", "postalCode": "K1Y 3B7", "coordinates": {"latitude": 45.402, "longitude": -75.726},
               "preferredChannel": "sms"},
    "referrer": {"id": REFERRER, "role": "physician", "organisation": "CSC Ouest"},
    "site": "ottawa-west-chc", "needs": ["social-isolation", "physical-activity"], "interests": ["walking", "gardening"],
    "supportLevel": "light", "priority": "routine",
    "consent": {"contact": True, "shareWithPartners": True, "evaluationUse": True},
    "notes": "Veuf depuis un an, sort peu ; aimerait marcher en groupe.",
}


class TraceError(Exception):
    pass


started = time.time()


def say(source, what, detail=""):
    now = time.time()
    clock = datetime.fromtimestamp(now).strftime("%H:%M:%S.%f")[:-3]
    print(f"{clock} +{now - started:6.3f}s  {source:<13} {what:<26} {detail}".rstrip(), flush=True)


def more(text):
    print(f"{'':>36}{text}", flush=True)


def token(role, subject, site=None):
    # Development tokens come from dev-token.py beside this script: no service executable signs any.
    signer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dev-token.py")
    command = [sys.executable, signer, "--role", role, "--subject", subject] + (["--site", site] if site else [])
    environment = {**ENV, "PASSERELLE_ALLOW_DEV_SECRET": ENV.get("PASSERELLE_ALLOW_DEV_SECRET", "true")}
    try:
        return subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise TraceError(f"could not sign a {role} token with {signer}: {getattr(error, 'stderr', '') or error}")


def call(method, url, bearer, body=None, expect=(200, 201)):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    except OSError as error:
        raise TraceError(f"{method} {url}: {error}")
    if status not in expect:
        raise TraceError(f"{method} {url} answered {status}: {text}")
    return status, (json.loads(text) if text else None)


class Trace:
    def __init__(self):
        self.referral = None
        self.pathway = None
        self.pending = []          # events read before the referral's id was known
        self.events = []           # (topic, type, data) of this referral, in arrival order
        self.sent = {}             # notification id -> notification.sent/failed data
        self.delivered = {}        # notification id -> inbox message
        self.inbox_offset = 0
        self.inbox_seen = 0
        self.inbox = self.inbox_available()
        self.names = self.link_worker_names()
        self.resource_names = {}
        key = ENV.get("PASSERELLE_EVALUATION_PSEUDONYM_KEY")
        self.pseudonym_key = key.encode() if key else None
        self.consumer = self.subscribe()

    # ---- reading -------------------------------------------------------------------------

    def subscribe(self):
        """Assigns every partition of the four topics at its current end (no consumer group)."""
        consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"passerelle-trace-{uuid.uuid4()}",
                             "enable.auto.commit": False, "auto.offset.reset": "latest"})
        try:
            metadata = consumer.list_topics(timeout=10)
        except KafkaException as error:
            raise TraceError(f"the broker at {BOOTSTRAP} does not answer: {error}")
        partitions = []
        for name in TOPICS:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                raise TraceError(f"topic {name} does not exist on {BOOTSTRAP} (is PASSERELLE_TOPIC_PREFIX right?)")
            for partition in topic.partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)
                partitions.append(TopicPartition(name, partition, high))
        consumer.assign(partitions)
        return consumer

    def inbox_available(self):
        try:
            with urllib.request.urlopen(f"{INBOX}/messages", timeout=3) as response:
                self.inbox_offset = len(response.read())
            return True
        except OSError:
            return False

    def link_worker_names(self):
        try:
            with open(os.path.join(ROOT, "deploy", "demo", "link-workers.json"), encoding="utf-8") as source:
                return {worker["id"].lower(): worker["name"] for worker in json.load(source)}
        except OSError:
            return {}

    def pump(self, seconds):
        """Reads the topics and the inbox for up to `seconds`, printing what concerns the referral."""
        deadline = time.time() + seconds
        while True:
            message = self.consumer.poll(max(0.0, min(0.1, deadline - time.time())))
            if message is not None:
                if message.error():
                    raise TraceError(f"reading {message.topic()}: {message.error()}")
                self.take(message)
            self.read_inbox()
            if time.time() >= deadline:
                return

    def take(self, message):
        headers = {key: value.decode() for key, value in (message.headers() or [])}
        kind = headers.get("ce_type", "?")
        data = json.loads(message.value()) if message.value() else {}
        entry = (TOPICS.get(message.topic(), message.topic()), kind, data, (message.key() or b"").decode())
        if self.referral is None:
            self.pending.append(entry)
        else:
            self.consider(entry)

    def consider(self, entry):
        topic, kind, data, key = entry
        ours = str(data.get("referralID", "")).lower() == self.referral or (self.pathway is not None and key == self.pathway)
        if not ours:
            return
        self.events.append((topic, kind, data))
        self.show(topic, kind, data)

    def read_inbox(self):
        if not self.inbox or time.time() - getattr(self, "inbox_read_at", 0) < 0.1:
            return
        self.inbox_read_at = time.time()
        try:
            with urllib.request.urlopen(f"{INBOX}/messages", timeout=3) as response:
                text = response.read()[self.inbox_offset:].decode()
        except OSError as error:
            raise TraceError(f"the local inbox at {INBOX} stopped answering: {error}")
        lines = text.split("\n")
        for line in lines[self.inbox_seen:]:
            if not line.strip():
                continue
            self.inbox_seen += 1
            message = json.loads(line)
            self.arrived(message)

    def arrived(self, message):
        notification = (message.get("id") or "").lower()
        if notification in self.delivered:
            return
        self.delivered[notification] = message
        if notification in self.sent:
            self.show_delivery(notification)

    # ---- printing ------------------------------------------------------------------------

    def resource_name(self, resource, bearer):
        resource = resource.lower()
        if resource not in self.resource_names:
            try:
                _, body = call("GET", f"{URL['matching']}/v1/resources/{resource}", bearer)
                self.resource_names[resource] = body.get("name") or resource[:8]
            except TraceError:
                self.resource_names[resource] = resource[:8]
        return self.resource_names[resource]

    def show(self, topic, kind, data):
        short = kind.removeprefix("passerelle.").removesuffix(".v1")
        if short == "referral.received":
            say(topic, short, f"site {data['site']}, needs {', '.join(data['needs'])}, {data['supportLevel']} support, "
                              f"{data['priority']}, language {data['preferredLanguage']}, age band {data['ageBand']}")
        elif short == "referral.assigned":
            worker = data["linkWorkerID"].lower()
            say(topic, short, f"link worker {self.names.get(worker, '?')} ({worker}), site {data['site']}")
        elif short == "matches.proposed":
            say(topic, short, f"{len(data['matches'])} resources ranked")
            for match in data["matches"][:3]:
                name = self.resource_name(match["resourceID"], self.bearer)
                more(f"#{match['rank']} {name} ({match['resourceKind']}, score {match['score']:.2f}): {'; '.join(match['reasons'])}")
        elif short == "need.unmet":
            say(topic, short, f"{', '.join(data['categories'])}: {data['reason']}")
        elif short == "referral.status-changed":
            say(topic, short, f"{data['from']} -> {data['to']} ({data['action']} by {data['actorRole']} {data.get('actorID') or ''})"
                              + (f", outcome: {data['outcome']}" if data.get("outcome") else ""))
        elif short == "connection.proposed":
            say(topic, short, f"{data.get('resourceName') or data['resourceID']} ({data['resourceKind']}), seat reserved")
        elif short == "connection.changed":
            name = data.get("resourceName") or self.resource_name(data["resourceID"], self.bearer)
            say(topic, short, f"{name}: {data['from']} -> {data['to']}" + (f" ({data['reason']})" if data.get("reason") else ""))
        elif short in ("notification.sent", "notification.failed"):
            notification = data["notificationID"].lower()
            self.sent[notification] = data
            outcome = "sent" if short == "notification.sent" else f"FAILED after {data['attempts']} attempt(s): {data['error']}"
            say(topic, short, f"to the {data['recipientKind']} by {data['channel']}, {data['template']}"
                              + (f" ({data['language']})" if data.get("language") else "") + f": {outcome}")
            if notification in self.delivered:
                self.show_delivery(notification)
        elif short == "pathway.updated":
            stages = [name for name in ("acceptedAt", "firstContactAt", "connectedAt", "closedAt") if data.get(name)]
            say(topic, short, f"pseudonymous pathway {data['pathway'][:12]}…: {data['status']}, {data['connectionCount']} connection(s)"
                              + (f", reached {', '.join(s.removesuffix('At') for s in stages)}" if stages else ""))
        elif short == "outcome.recorded":
            say(topic, short, f"{data['instrument']} at {data['timepoint']}: {data['scores']}")
        else:
            say(topic, short, "")

    def show_delivery(self, notification):
        message = self.delivered[notification]
        text = " ".join((message.get("text") or "").split())
        check = ", signature verified" if message.get("verified") else ""
        say("inbox", f"{message['channel']} delivered", f"to {message.get('to')}{check}: “{text[:110]}{'…' if len(text) > 110 else ''}”")

    # ---- waiting -------------------------------------------------------------------------

    def wait(self, what, found, timeout=None):
        """Pumps until `found()` returns something, or fails naming `what`."""
        deadline = time.time() + (timeout or STEP_TIMEOUT)
        while True:
            result = found()
            if result:
                return result
            if time.time() >= deadline:
                raise TraceError(f"{what} did not happen within {timeout or STEP_TIMEOUT:.0f}s "
                                 f"(events of this referral so far: {', '.join(k.split('.', 1)[1] for _, k, _ in self.events) or 'none'})")
            self.pump(0.1)

    def event(self, kind, where=lambda data: True):
        return lambda: next((data for _, k, data in self.events if k == f"passerelle.{kind}.v1" and where(data)), None)

    def notified(self, recipients, bearer):
        """Waits until the notification for each (recipient kind, template) is sent and delivered,
        failed, or held back (consent, quiet hours: shown from notification's delivery log)."""
        remaining = set(recipients)
        deadline = time.time() + STEP_TIMEOUT
        next_log = time.time() + 1
        while remaining:
            for data in list(self.sent.values()):
                key = (data["recipientKind"], data["template"])
                notification = data["notificationID"].lower()
                if key in remaining and (notification in self.delivered or not self.inbox or "error" in data):
                    remaining.discard(key)
            if remaining and time.time() >= next_log:
                next_log = time.time() + 2
                try:
                    _, log = call("GET", f"{URL['notification']}/v1/notifications?referral={self.referral}", bearer)
                except TraceError as error:
                    waiting = ", ".join(f"{template} to the {kind}" for kind, template in sorted(remaining))
                    raise TraceError(f"waiting for {waiting}, notification's delivery log could not be read: {error}")
                for entry in log["notifications"]:
                    key = (entry["recipientKind"], entry["template"])
                    if key in remaining and entry["status"] in ("deferred", "withheld"):
                        held = f"until {entry['notBefore']} (the site's quiet hours)" if entry["status"] == "deferred" else entry.get("lastError") or ""
                        say("notification", f"{entry['status']}", f"{entry['template']} to the {entry['recipientKind']} {held}")
                        remaining.discard(key)
            if not remaining:
                break
            if time.time() >= deadline:
                missing = ", ".join(f"{template} to the {kind}" for kind, template in sorted(remaining))
                raise TraceError(f"no notification {missing} within {STEP_TIMEOUT:.0f}s (see GET /v1/notifications?referral={self.referral})")
            self.pump(0.1)

    # ---- the loop ------------------------------------------------------------------------

    def run(self):
        site = REFERRAL["site"]
        referrer = token("referrer", REFERRER, site)
        worker = token("link-worker", "trace-link-worker", site)
        analyst = token("analyst", "trace-analyst", site)
        self.bearer = worker
        if not self.inbox:
            say("inbox", "not running", f"nothing answers at {INBOX}: deliveries are shown from the topics only")
        before = report(analyst)

        status, body = call("POST", f"{URL['intake']}/v1/referrals", referrer, REFERRAL, expect=(201,))
        self.referral = body["id"].lower()
        if self.pseudonym_key:
            self.pathway = hmac.new(self.pseudonym_key, f"referral:{self.referral}".encode(), hashlib.sha256).hexdigest()
        say("intake API", "POST /v1/referrals", f"{status}: referral {self.referral} from {REFERRER}, status {body['status']}")
        for entry in self.pending:
            self.consider(entry)
        self.pending = []

        self.wait("referral.received on the referrals topic", self.event("referral.received"))
        assigned = self.wait("the assignment to a link worker", self.event("referral.assigned"))
        self.wait("the matches", lambda: self.event("matches.proposed")() or self.event("need.unmet")())
        self.notified({("link-worker", "referral-assigned")}, worker)

        self.transition(worker, "accept", "accepted")
        self.notified({("client", "client-referral-accepted"), ("referrer", "referrer-referral-accepted")}, worker)
        self.transition(worker, "start", "in-progress")
        self.record_outcome(worker, "baseline", [3, 3, 2])

        matches = self.event("matches.proposed")()
        if not matches or not matches["matches"]:
            raise TraceError("matching proposed no resource, so there is nothing to connect the client to")
        resource = matches["matches"][0]["resourceID"].lower()
        status, connection = call("POST", f"{URL['matching']}/v1/referrals/{self.referral}/connections", worker, {"resourceId": resource}, expect=(201,))
        say("matching API", "POST …/connections", f"{status}: {self.resource_name(resource, worker)}, connection {connection['id'].lower()}")
        self.wait("connection.proposed", self.event("connection.proposed"))
        self.notified({("client", "client-connection-proposed")}, worker)
        for step in ("accepted", "enrolled"):
            status, _ = call("PATCH", f"{URL['matching']}/v1/connections/{connection['id']}", worker, {"status": step})
            say("matching API", "PATCH /v1/connections/…", f"{status}: {step}")
            self.wait(f"the connection becoming {step}", self.event("connection.changed", lambda d, s=step: d["to"] == s))
        self.notified({("client", "client-enrolled"), ("referrer", "referrer-connected"), ("partner", "partner-participant-enrolled")}, worker)

        self.transition(worker, "complete", "completed", outcome="connected to a walking group; feels less alone")
        self.notified({("referrer", "referrer-referral-closed")}, worker)
        self.record_outcome(worker, "closure", [2, 1, 1])
        if self.pathway:
            self.wait("evaluation's completed pathway on the evaluation topic", self.event(
                "pathway.updated", lambda d: d["status"] == "completed" and d.get("connectedAt")))
        else:
            say("evaluation", "pathway not followed", "PASSERELLE_EVALUATION_PSEUDONYM_KEY is not set here")

        after = self.wait("the report counting this pathway", lambda: changed(before, report(analyst)))
        say("evaluation API", "GET /v1/reports/funnel", "all sites, cells under 5 clients shown as <5")
        for stage in after:
            more(f"{'any stage' if stage == 'all' else stage:<20} {str(before.get(stage, 0)):>5} -> {str(after[stage]):<5}{'  (+ this pathway)' if before.get(stage) != after[stage] else ''}")
        if "<5" in after.values():
            more("<5: fewer than 5 clients, or hidden with such a cell so that it cannot be worked out from the total")
        say("trace", "loop closed", f"referral {self.referral}: received to reported in {time.time() - started:.1f}s")

    def transition(self, bearer, action, to, outcome=None):
        body = {"action": action, **({"outcome": outcome} if outcome else {})}
        status, view = call("POST", f"{URL['intake']}/v1/referrals/{self.referral}/transitions", bearer, body)
        say("intake API", "POST …/transitions", f"{status}: {action} -> {view['status']}, version {view['version']}")
        self.wait(f"the {to} status on the referrals topic", self.event("referral.status-changed", lambda d: d["to"] == to))

    def record_outcome(self, bearer, timepoint, answers):
        # Evaluation learns of the referral from the topics: its pathway may lag the API call.
        deadline = time.time() + STEP_TIMEOUT
        while True:
            try:
                status, body = call("POST", f"{URL['evaluation']}/v1/referrals/{self.referral}/outcomes", bearer,
                                    {"instrument": "ucla3", "timepoint": timepoint, "answers": answers}, expect=(201,))
                break
            except TraceError as error:
                if " 404" not in str(error) or time.time() >= deadline:
                    raise
                self.pump(0.2)
        change = f", change from baseline {body['changeFromBaseline']}" if body.get("changeFromBaseline") else ""
        say("evaluation API", "POST …/outcomes", f"{status}: UCLA 3-item loneliness at {timepoint}, scores {body['scores']}{change}")
        if self.pathway:
            self.wait(f"outcome.recorded ({timepoint}) on the evaluation topic", self.event("outcome.recorded", lambda d: d["timepoint"] == timepoint))


def report(analyst):
    """The funnel of the analyst's site: stage -> clients (a number, or "<5" when suppressed)."""
    _, body = call("GET", f"{URL['evaluation']}/v1/reports/funnel", analyst)
    return {row["stage"]: row["referrals"] for row in body["rows"] if row.get("group") == "all"}


def changed(before, after):
    """The report once it shows this pathway: received grew, and completed grew or is suppressed."""
    def grew(stage):
        old, new = before.get(stage, 0), after.get(stage, 0)
        return new == "<5" or (isinstance(new, int) and isinstance(old, int) and new > old) or (old == "<5" and new != "<5")
    return after if grew("received") and grew("completed") else None


def close_loops(referrals):
    """Takes each referral through the loop as its site's link worker would, quietly, so the
    evaluation reports have closed pathways to show: accept, start, baseline UCLA-3, connect to
    the best match, enrol, complete, closure UCLA-3. Referrals already past `received` are left."""
    coordinator = token("network-coordinator", "demo-coordinator")
    for index, referral in enumerate(referrals):
        referral = referral.lower()
        _, view = call("GET", f"{URL['intake']}/v1/referrals/{referral}", coordinator)
        if view["status"] != "received":
            print(f"  {referral}  already {view['status']}")
            continue
        worker = token("link-worker", "demo-link-worker", view["site"])
        steps = []
        for action in ("accept", "start"):
            _, view = call("POST", f"{URL['intake']}/v1/referrals/{referral}/transitions", worker, {"action": action})
            steps.append(view["status"])
        baseline, closure = [3, 3, 3 - index % 2], [2 - index % 2, 1 + index % 2, 1]
        deadline = time.time() + STEP_TIMEOUT
        while True:  # evaluation and matching learn of the referral from the topics
            try:
                call("POST", f"{URL['evaluation']}/v1/referrals/{referral}/outcomes", worker,
                     {"instrument": "ucla3", "timepoint": "baseline", "answers": baseline}, expect=(201, 409))
                _, matches = call("GET", f"{URL['matching']}/v1/referrals/{referral}/matches", worker)
                if matches["matches"] or time.time() >= deadline:
                    break
            except TraceError as error:
                if " 404" not in str(error) or time.time() >= deadline:
                    raise
            time.sleep(0.2)
        outcome = "no resource fits yet; signposted"
        if matches["matches"]:
            resource = matches["matches"][0]["resourceId"]
            _, connection = call("POST", f"{URL['matching']}/v1/referrals/{referral}/connections", worker, {"resourceId": resource}, expect=(201,))
            for status in ("accepted", "enrolled"):
                call("PATCH", f"{URL['matching']}/v1/connections/{connection['id']}", worker, {"status": status})
            _, found = call("GET", f"{URL['matching']}/v1/resources/{resource}", worker)
            steps.append(f"enrolled in {found.get('name', resource)}")
            outcome = f"connected to {found.get('name', 'a community resource')}"
        _, view = call("POST", f"{URL['intake']}/v1/referrals/{referral}/transitions", worker, {"action": "complete", "outcome": outcome})
        steps.append(view["status"])
        _, recorded = call("POST", f"{URL['evaluation']}/v1/referrals/{referral}/outcomes", worker,
                           {"instrument": "ucla3", "timepoint": "closure", "answers": closure}, expect=(201, 409))
        change = (recorded or {}).get("changeFromBaseline") or {}
        print(f"  {referral}  {view['site']}: {', '.join(steps)}; UCLA-3 change {change.get('total', '?')}")


def main():
    try:
        if sys.argv[1:2] == ["--close"]:
            close_loops(sys.argv[2:])
            return
        Trace().run()
    except TraceError as error:
        print(f"trace: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
