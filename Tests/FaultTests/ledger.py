"""Reconciliation: for the referrals a scenario's stream got accepted, every effect the closed loop
owes them, counted in every schema, on every topic and at the webhook receiver.

A missing effect is a loss and a second effect (a second assignment, a second link-worker
notification, a second pathway, a second event id for one effect) a duplicate: both fail.
Repeated deliveries of one event on a topic, and a webhook delivered twice with the same
webhook-id (the documented window between the HTTP answer and the commit of "sent"), are counted
and reported without failing."""
import json
import time
from collections import Counter, defaultdict

import topics
from timing import log

SCHEMAS = ("intake", "matching", "notification", "evaluation")
DLQ_TOPICS = [topic + ".dlq" for topic in (topics.REFERRALS, topics.CLIENTS, topics.MATCHING, topics.NOTIFICATIONS)]


def uuid_array(ids):
    return "'{" + ",".join(sorted(ids)) + "}'::uuid[]"


class Findings:
    """Checks that pass or fail, and figures that are only reported."""

    def __init__(self):
        self.checks = []   # (name, ok, detail)
        self.figures = {}  # name -> value

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        return ok

    def note(self, name, value):
        self.figures[name] = value

    @property
    def failed(self):
        return [check for check in self.checks if not check[1]]

    def absorb(self, other):
        self.checks.extend(other.checks)
        self.figures.update(other.figures)


def sample(items, limit=5):
    items = sorted(items)
    return ", ".join(items[:limit]) + (f" … ({len(items)} in all)" if len(items) > limit else "")


def explain_absent(stack, findings, schema, event_type, keys):
    """For events missing from a topic, what the producing service's outbox says: a row marked
    sent was acknowledged by the broker (acks=all) before it went missing."""
    if not keys:
        return set()
    rows = stack.rows(f"""SELECT record_key, sent_at IS NOT NULL AS acknowledged, attempts, last_error, created_at, sent_at
                          FROM {schema}.outbox WHERE event_type = '{event_type}' AND record_key = ANY ('{{{",".join(sorted(keys))}}}'::text[])""")
    acknowledged = [r for r in rows if r["acknowledged"]]
    findings.note(f"{event_type} missing from the topic: outbox rows", f"{len(rows)} of {len(keys)} exist, {len(acknowledged)} marked sent (acknowledged)")
    for row in acknowledged[:5]:
        findings.note(f"  acknowledged yet absent {row['record_key']}", f"created {row['created_at']}, sent {row['sent_at']}, attempts {row['attempts']}")
    return {row["record_key"].lower() for row in acknowledged}


def progress(stack, receiver, ids):
    """Where the loop stands for `ids`: one tuple, compared between polls to tell quiet."""
    array = uuid_array(ids)
    row = stack.rows(f"""
        SELECT
          (SELECT count(*) FROM intake.referral WHERE id = ANY ({array})) AS intake,
          (SELECT count(*) FROM matching.assignment WHERE referral_id = ANY ({array})) AS assigned,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker') AS planned,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker' AND status = 'sent') AS sent,
          (SELECT count(*) FROM notification.notification WHERE status IN ('pending', 'deferred', 'sending')) AS undelivered,
          (SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({array})) AS pathways,
          (SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM matching.outbox WHERE sent_at IS NULL)
            + (SELECT count(*) FROM notification.outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM evaluation.outbox WHERE sent_at IS NULL) AS unpublished,
          (SELECT count(*) FROM matching.processed_events) + (SELECT count(*) FROM notification.processed_events)
            + (SELECT count(*) FROM evaluation.processed_events) AS processed
        """)[0]
    notification_ids = [r["id"] for r in stack.rows(
        f"SELECT id FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker'")]
    arrivals, _ = receiver.snapshot()
    row["delivered"] = sum(1 for identifier in notification_ids if arrivals.get(identifier, 0) > 0)
    return row


def wait_quiet(stack, receiver, ids, timeout, stable_for=3.0, stalled_for=40.0):
    """Waits until every effect is in place and nothing moves for `stable_for` seconds. Gives up
    early when effects are missing yet nothing is in flight (no unpublished outbox row, no
    notification waiting) and nothing has moved for `stalled_for` seconds."""
    expected = len(ids)
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last, since, current = None, time.monotonic(), None
    reported = time.monotonic()
    while time.monotonic() < deadline:
        try:
            current = progress(stack, receiver, ids)
        except RuntimeError as error:  # PostgreSQL may still be coming back
            log(f"  progress not readable yet: {error}")
            time.sleep(1)
            continue
        complete = all(current[name] == expected for name in ("intake", "assigned", "planned", "sent", "pathways", "delivered")) \
            and current["undelivered"] == 0 and current["unpublished"] == 0
        if current != last:
            last, since = current, time.monotonic()
        if time.monotonic() - reported >= 10:
            reported = time.monotonic()
            log(f"  settling ({reported - started:.0f}s): {current}")
        elif complete and time.monotonic() - since >= stable_for:
            return True, time.monotonic() - started, current
        elif not complete and current["undelivered"] == 0 and current["unpublished"] == 0 and time.monotonic() - since >= stalled_for:
            log(f"  nothing in flight and nothing moved for {stalled_for:.0f}s: effects are missing")
            return False, time.monotonic() - started, current
        time.sleep(0.5)
    return False, time.monotonic() - started, current


def reconcile(stack, receiver, fleet, stream, poison_keys=frozenset()):
    findings = Findings()
    accepted = dict(stream.accepted)
    ids = set(accepted.values())
    array = uuid_array(ids) if ids else "'{}'::uuid[]"
    summary = stream.summary()

    # -- what the stream saw -------------------------------------------------------------------
    unexpected = {status: count for status, count in summary["responses"].items() if status not in (200, 201, 503)}
    findings.check("every referral sent got a definitive answer", summary["unresolved"] == 0 and summary["rejected"] == 0,
                   f"unresolved {summary['unresolved']}, rejected {stream.rejected[:3]}")
    findings.check("intake answered only 201, 200 or 503", not unexpected, f"other statuses: {unexpected}")
    findings.check("every 503 carried Retry-After", summary["unavailable_without_retry_after"] == 0,
                   f"{summary['unavailable_without_retry_after']} without it")
    findings.check("one referral id per idempotency key", len(ids) == len(accepted), f"{len(accepted)} keys, {len(ids)} ids")

    # -- intake --------------------------------------------------------------------------------
    stored = {r["id"] for r in stack.rows(f"SELECT id::text FROM intake.referral WHERE referrer_id = '{stream.tag}'")}
    findings.check("intake: every accepted referral stored", not (ids - stored), f"missing: {sample(ids - stored)}")
    findings.check("intake: no referral stored twice (a retried key made no new referral)", not (stored - ids),
                   f"not accepted yet stored: {sample(stored - ids)}")
    keyed = {r["key"]: r["referral_id"] for r in stack.rows(
        f"SELECT key, referral_id::text FROM intake.idempotency_key WHERE key LIKE '{stream.tag}-%'")}
    wrong = [key for key, identifier in accepted.items() if keyed.get(key) != identifier]
    findings.check("intake: each idempotency key holds the referral the client was given", not wrong, f"keys: {sample(wrong)}")

    # Every topic in one pass: reading waits for the broker to go idle, once.
    records = topics.read_topics(stack.bootstrap, [topics.REFERRALS, topics.MATCHING, topics.NOTIFICATIONS] + DLQ_TOPICS)

    # -- the referrals topic -------------------------------------------------------------------
    received = defaultdict(Counter)
    for record in records[topics.REFERRALS]:
        if record.event_type == "passerelle.referral.received.v1" and record.key in ids:
            received[record.key][record.event_id] += 1
    lost_by_broker = explain_absent(stack, findings, "intake", "passerelle.referral.received.v1", ids - set(received))
    never_published = ids - set(received) - lost_by_broker
    findings.check("referrals topic: a referral.received event for every referral", not never_published,
                   f"missing: {sample(never_published)}")
    findings.check("referrals topic: one referral.received event per referral",
                   not [r for r, events in received.items() if len(events) > 1],
                   f"several: {sample([r for r, events in received.items() if len(events) > 1])}")
    findings.note("referral.received records delivered more than once",
                  sum(count - 1 for events in received.values() for count in events.values()))

    # An event the broker acknowledged (the outbox row is marked sent) and then lost cannot have
    # effects downstream: those referrals fail the broker check below, not the services' checks.
    ids = ids - lost_by_broker

    # -- matching ------------------------------------------------------------------------------
    assignments = {r["referral_id"]: r["link_worker_id"] for r in stack.rows(
        f"SELECT referral_id::text, link_worker_id::text FROM matching.assignment WHERE referral_id = ANY ({array})")}
    findings.check("matching: every referral assigned", not (ids - set(assignments)), f"unassigned: {sample(ids - set(assignments))}")
    caseload = stack.rows("""SELECT (SELECT coalesce(sum(current_caseload), 0) FROM matching.link_worker) AS caseload,
                             (SELECT count(*) FROM matching.assignment WHERE released_at IS NULL) AS open""")[0]
    findings.check("matching: caseloads add up to the open assignments (no double count)", caseload["caseload"] == caseload["open"],
                   f"caseload sum {caseload['caseload']}, open assignments {caseload['open']}")
    matched = {r["referral_id"]: r for r in stack.rows(
        f"SELECT referral_id::text, count(*) AS n, max(rank) AS top FROM matching.referral_match WHERE referral_id = ANY ({array}) GROUP BY 1")}
    gaps = [referral for referral, r in matched.items() if r["n"] != r["top"]]
    findings.check("matching: one ranked list per referral", not gaps, f"ranks out of order: {sample(gaps)}")
    findings.note("referrals with proposed matches", len(matched))

    matching_records = records[topics.MATCHING]
    assigned_events = defaultdict(Counter)  # referral -> event id -> records
    assigned_worker = {}
    for record in matching_records:
        if record.event_type == "passerelle.referral.assigned.v1" and record.key in ids:
            assigned_events[record.key][record.event_id] += 1
            body = json.loads(record.value)
            assigned_worker[record.key] = str(body.get("linkWorkerId") or body.get("linkWorkerID") or "").lower()
    no_event = ids - set(assigned_events)
    twice = [referral for referral, events in assigned_events.items() if len(events) > 1]
    assignment_lost_by_broker = explain_absent(stack, findings, "matching", "passerelle.referral.assigned.v1", no_event)
    lost_by_broker = lost_by_broker | assignment_lost_by_broker
    findings.check("matching topic: a referral.assigned event for every referral", not (no_event - assignment_lost_by_broker),
                   f"missing: {sample(no_event - assignment_lost_by_broker)}")
    findings.check("matching topic: one referral.assigned event per referral", not twice, f"several event ids: {sample(twice)}")
    mismatched = [r for r in assignments if r in assigned_worker and assigned_worker[r] and assigned_worker[r] != assignments[r]]
    findings.check("matching topic: the event names the link worker of the assignment", not mismatched, f"{sample(mismatched)}")
    findings.note("referral.assigned records delivered more than once",
                  sum(count - 1 for events in assigned_events.values() for count in events.values()))

    # -- notification --------------------------------------------------------------------------
    told = ids - assignment_lost_by_broker
    notes = stack.rows(f"""SELECT id::text, referral_id::text, recipient_id, template, status, attempts
                           FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker'""")
    per_referral = defaultdict(list)
    for note in notes:
        per_referral[note["referral_id"]].append(note)
    findings.check("notification: a link-worker notification for every referral", not (told - set(per_referral)),
                   f"none for: {sample(told - set(per_referral))}")
    several = [referral for referral, items in per_referral.items() if len(items) > 1]
    findings.check("notification: one link-worker notification per referral", not several, f"several for: {sample(several)}")
    unsent = [n["id"] for n in notes if n["status"] != "sent"]
    findings.check("notification: every link-worker notification sent", not unsent,
                   f"not sent: {sample(unsent)} ({Counter(n['status'] for n in notes if n['status'] != 'sent')})")
    wrong_worker = [n["id"] for n in notes if assignments.get(n["referral_id"]) and n["recipient_id"].lower() != assignments[n["referral_id"]]]
    findings.check("notification: addressed to the assigned link worker", not wrong_worker, f"{sample(wrong_worker)}")
    findings.note("link-worker notifications needing more than one attempt", sum(1 for n in notes if n["attempts"] > 1))

    arrivals, paths = receiver.snapshot()
    note_ids = {n["id"] for n in notes}
    never = [identifier for identifier in note_ids if arrivals.get(identifier, 0) == 0]
    repeated = {identifier: arrivals[identifier] for identifier in note_ids if arrivals.get(identifier, 0) > 1}
    findings.check("receiver: every link-worker notification arrived", not never, f"never arrived: {sample(never)}")
    misrouted = [n["id"] for n in notes if n["id"] in paths and paths[n["id"]] != f"/webhook/{n['recipient_id'].lower()}"]
    findings.check("receiver: each arrived at its link worker's endpoint", not misrouted, f"{sample(misrouted)}")
    findings.note("webhook repeats with the same webhook-id (crash window)", sum(count - 1 for count in repeated.values()))
    if repeated:
        findings.note("webhook ids repeated", sample(repeated))
    findings.check("receiver: no delivery failed its signature check", not receiver.rejected, f"{receiver.rejected[:3]}")

    notification_records = records[topics.NOTIFICATIONS]
    sent_events = defaultdict(Counter)
    for record in notification_records:
        if record.event_type == "passerelle.notification.sent.v1" and record.key in ids:
            body = json.loads(record.value)
            identifier = str(body.get("notificationId") or body.get("notificationID") or "").lower()
            if identifier in note_ids:
                sent_events[identifier][record.event_id] += 1
    findings.check("notifications topic: a notification.sent event for every link-worker notification",
                   not (note_ids - set(sent_events)), f"missing: {sample(note_ids - set(sent_events))}")
    findings.check("notifications topic: one notification.sent event per notification",
                   not [i for i, events in sent_events.items() if len(events) > 1],
                   f"several: {sample([i for i, events in sent_events.items() if len(events) > 1])}")
    findings.note("notification.sent records delivered more than once",
                  sum(count - 1 for events in sent_events.values() for count in events.values()))

    # -- evaluation ----------------------------------------------------------------------------
    pathways = {r["referral_id"] for r in stack.rows(
        f"SELECT referral_id::text FROM evaluation.pathway WHERE referral_id = ANY ({array})")}
    findings.check("evaluation: a pathway for every referral", not (ids - pathways), f"missing: {sample(ids - pathways)}")
    counted = stack.value(f"SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({array})")
    findings.check("evaluation: each pathway counted once", counted == len(ids), f"{counted} rows for {len(ids)} referrals")

    findings.check("broker: every record it acknowledged is on its topic", not lost_by_broker,
                   f"acknowledged to the producing relay, then absent: {sample(lost_by_broker)}")

    # -- dead letters --------------------------------------------------------------------------
    foreign = []
    for topic in DLQ_TOPICS:
        for record in records[topic]:
            if record.key not in poison_keys:
                foreign.append(f"{topic}:{record.offset} ({record.headers.get('dlq_consumer')}: {record.headers.get('dlq_error', '')[:120]})")
    findings.check("dead-letter topics hold only the poison records", not foreign, "; ".join(foreign[:3]))

    # -- everyone back ---------------------------------------------------------------------------
    not_ready = fleet.not_ready()
    findings.check("every service ready (/health/ready 200)", not not_ready, f"not ready: {not_ready}")
    return findings
