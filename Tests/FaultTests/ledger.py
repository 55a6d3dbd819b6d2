"""Reconciliation: for the referrals a scenario's stream got accepted, every effect the closed loop
owes them, counted in every schema, on every topic and at the webhook receiver.

A missing effect is a loss and a second effect (a second assignment, a second link-worker
notification, a second pathway, a second event id for one effect) a duplicate: both fail.
Repeated deliveries of one event on a topic, and a webhook delivered twice with the same
webhook-id (the documented window between the HTTP answer and the commit of "sent"), are counted
and reported without failing.

An event missing from its topic is classified by the producing service's outbox. A row marked
sent keeps the partition and offset of the broker's acknowledgement (acks=all, from the delivery
report): if that place on the topic is empty or holds another record, the broker acknowledged the
record and then did not keep it — lost by the broker, not by Passerelle, reported with those
offsets; where the scenario allows it (the broker on S3 storage, see FINDINGS.md) it does not
fail, and the effects downstream of it are not expected. A row marked sent without that proof, a
row not sent, or no row at all is Passerelle's loss and fails."""
import json
import time
from collections import Counter, defaultdict

import topics
from timing import log

SCHEMAS = ("intake", "matching", "notification", "evaluation")
DLQ_TOPICS = [topic + ".dlq" for topic in (topics.REFERRALS, topics.CLIENTS, topics.MATCHING, topics.NOTIFICATIONS)]


def uuid_array(ids):
    return "'{" + ",".join(sorted(ids)) + "}'::uuid[]"


def text_array(ids):
    return "'{" + ",".join(sorted(ids)) + "}'::text[]"


class BrokerLoss:
    """One record the broker acknowledged to a relay and then did not have."""

    def __init__(self, topic, event_type, identifier, row, found_there):
        self.topic = topic
        self.event_type = event_type
        self.identifier = identifier    # the referral (or notification) it was about
        self.row = row                  # the producing service's outbox row
        self.found_there = found_there  # the event id the topic holds at the acknowledged offset, or None

    def describe(self):
        there = f"event {self.found_there}" if self.found_there else "nothing"
        return (f"{self.identifier}: event {self.row['event_id']} acknowledged at {self.topic} partition {self.row['sent_partition']} "
                f"offset {self.row['sent_offset']}, where the topic holds {there}; outbox row written {self.row['created_at']}, "
                f"marked sent {self.row['sent_at']} after {self.row['attempts']} attempt(s)")


class Findings:
    """Checks that pass or fail, figures that are only reported, records lost by the broker and
    services restarted after ending on their own (both reported apart)."""

    def __init__(self):
        self.checks = []       # (name, ok, detail)
        self.figures = {}      # name -> value
        self.broker_lost = []  # BrokerLoss
        self.restarts = []     # services.Restart, with what their outbox did afterwards

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
        self.broker_lost.extend(other.broker_lost)
        self.restarts.extend(other.restarts)


def sample(items, limit=5):
    items = sorted(items)
    return ", ".join(items[:limit]) + (f" … ({len(items)} in all)" if len(items) > limit else "")


# What identifies an event of each type in its producer's outbox: the record key is the referral
# id; a notification.sent is about one notification, named in its body.
OUTBOX_IDENTITY = {
    "passerelle.referral.received.v1": "lower(record_key)",
    "passerelle.referral.assigned.v1": "lower(record_key)",
    "passerelle.notification.sent.v1": "lower(payload::jsonb->>'notificationID')",
}


def still_absent(stack, topic, event_type, missing, identify):
    """A second read of `topic` from its start, so that a record a first read did not reach is not
    taken for a lost one. Returns the identifiers still absent and what the topic holds where:
    {(partition, offset): event id}."""
    records = topics.read_topic(stack.bootstrap, topic, idle=3.0)
    found = {identify(record) for record in records if record.event_type == event_type}
    return missing - found, {(record.partition, record.offset): record.event_id for record in records}


def classify_absent(stack, findings, schema, topic, event_type, missing, identify):
    """Events missing from `topic`, by what the producing service's outbox says. Returns
    (lost by the broker: the row marked sent with the place of its acknowledgement, and that place
    empty or holding another record, {identifier: BrokerLoss}; the rest: lost by Passerelle)."""
    if not missing:
        return {}, set()
    started = time.monotonic()
    confirmed, places = still_absent(stack, topic, event_type, missing, identify)
    log(f"  {topic} read again for {len(missing)} missing {event_type} in {time.monotonic() - started:.1f}s: {len(confirmed)} still absent")
    if confirmed != missing:
        findings.note(f"{event_type} found only on a second read of the topic", sample(missing - confirmed))
    if not confirmed:
        return {}, set()
    identity = OUTBOX_IDENTITY[event_type]
    rows = stack.rows(f"""SELECT {identity} AS identifier, event_id::text, sent_at IS NOT NULL AS acknowledged, attempts,
                                 last_error, created_at, sent_at, sent_partition, sent_offset
                          FROM {schema}.outbox WHERE event_type = '{event_type}' AND {identity} = ANY ({text_array(confirmed)})""")
    lost, unproven = {}, []
    for row in rows:
        if not row["acknowledged"]:
            continue
        if row["sent_partition"] is None or row["sent_offset"] is None:
            # Marked sent, yet no acknowledgement recorded: nothing shows the broker ever had it.
            unproven.append(row["identifier"])
            continue
        there = places.get((row["sent_partition"], row["sent_offset"]))
        if there == row["event_id"].lower():
            continue  # cannot be: the record is where it was acknowledged (identify() disagrees)
        lost[row["identifier"]] = BrokerLoss(topic, event_type, row["identifier"], row, there)
    unsent = [row["identifier"] for row in rows if not row["acknowledged"]]
    findings.note(f"{event_type} missing from {topic}",
                  f"{len(confirmed)}: {len(lost)} acknowledged by the broker at an offset the topic no longer holds them at, "
                  f"{len(unproven)} marked sent in {schema}.outbox without an acknowledged offset, "
                  f"{len(unsent)} not sent, {len(confirmed) - len(rows)} without an outbox row")
    if unproven:
        findings.check(f"{schema}.outbox: every row marked sent records where the broker acknowledged it", False,
                       f"{event_type} without sent_partition/sent_offset: {sample(unproven)}")
    return lost, confirmed - set(lost)


def progress(stack, receiver, ids, allow_failed=False):
    """Where the loop stands for `ids`: one tuple, compared between polls to tell quiet.
    `allow_failed`: a notification failed for good counts as ended (the peers scenario)."""
    array = uuid_array(ids)
    row = stack.rows(f"""
        SELECT
          (SELECT count(*) FROM intake.referral WHERE id = ANY ({array})) AS intake,
          (SELECT count(*) FROM matching.assignment WHERE referral_id = ANY ({array})) AS assigned,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker') AS planned,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker' AND status = 'sent') AS sent,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker' AND status = 'failed') AS failed,
          (SELECT count(*) FROM notification.notification WHERE status IN ('pending', 'deferred', 'sending')) AS undelivered,
          (SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({array})) AS pathways,
          (SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM matching.outbox WHERE sent_at IS NULL)
            + (SELECT count(*) FROM notification.outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM evaluation.outbox WHERE sent_at IS NULL) AS unpublished,
          (SELECT count(*) FROM matching.processed_events) + (SELECT count(*) FROM notification.processed_events)
            + (SELECT count(*) FROM evaluation.processed_events) AS processed
        """)[0]
    notification_ids = [r["id"] for r in stack.rows(
        f"SELECT id FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker'"
        + (" AND status = 'sent'" if allow_failed else ""))]
    arrivals, _ = receiver.snapshot()
    row["delivered"] = sum(1 for identifier in notification_ids if arrivals.get(identifier, 0) > 0)
    if allow_failed:  # ended: sent (and arrived) or failed
        row["sent"] += row["failed"]
        row["delivered"] += row["failed"]
    return row


def wait_quiet(stack, receiver, ids, timeout, stable_for=3.0, stalled_for=40.0, allow_failed=False):
    """Waits until every effect is in place and nothing moves for `stable_for` seconds
    ("complete"). Stops early when effects are missing yet nothing is in flight (no unpublished
    outbox row, no notification waiting) and nothing has moved for `stalled_for` seconds
    ("stalled": the reconciliation then says which effects are missing and why); "timeout" when
    neither happens in `timeout` seconds. Returns (outcome, seconds waited, last progress)."""
    expected = len(ids)
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last, since, current = None, time.monotonic(), None
    reported = time.monotonic()
    while time.monotonic() < deadline:
        try:
            current = progress(stack, receiver, ids, allow_failed)
        except RuntimeError as error:  # PostgreSQL may still be coming back
            log(f"  progress not readable yet: {error}")
            time.sleep(1)
            continue
        idle = current["undelivered"] == 0 and current["unpublished"] == 0
        complete = idle and all(current[name] == expected for name in ("intake", "assigned", "planned", "sent", "pathways", "delivered"))
        if current != last:
            last, since = current, time.monotonic()
        if time.monotonic() - reported >= 10:
            reported = time.monotonic()
            log(f"  settling ({reported - started:.0f}s): {current}")
        elif complete and time.monotonic() - since >= stable_for:
            return "complete", time.monotonic() - started, current
        elif not complete and idle and time.monotonic() - since >= stalled_for:
            log(f"  nothing in flight and nothing moved for {stalled_for:.0f}s: effects are missing")
            return "stalled", time.monotonic() - started, current
        time.sleep(0.5)
    return "timeout", time.monotonic() - started, current


def reconcile(stack, receiver, fleet, stream, poison_keys=frozenset(), broker_may_lose=False, allow_failed=False,
              failed_notifications=frozenset()):
    """Every check for the scenario's accepted referrals. `broker_may_lose`: records the broker
    acknowledged and then lost are reported apart instead of failing (the broker on S3 storage).
    `allow_failed`: a link-worker notification may end failed (peers.py says whether rightly);
    the checks of arrival and of `notification.sent` then concern the sent ones, and each failed
    one is expected once on the notifications' dead-letter topic, as are those of earlier
    scenarios (`failed_notifications`); the scenario's are left in `findings.failed_notifications`."""
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
    started = time.monotonic()
    records = topics.read_topics(stack.bootstrap, [topics.REFERRALS, topics.MATCHING, topics.NOTIFICATIONS] + DLQ_TOPICS)
    log(f"  topics read in {time.monotonic() - started:.1f}s: " + ", ".join(f"{name} {len(got)}" for name, got in records.items() if got))

    # -- the referrals topic -------------------------------------------------------------------
    received = defaultdict(Counter)
    for record in records[topics.REFERRALS]:
        if record.event_type == "passerelle.referral.received.v1" and record.key in ids:
            received[record.key][record.event_id] += 1
    received_lost, never_published = classify_absent(
        stack, findings, "intake", topics.REFERRALS, "passerelle.referral.received.v1", ids - set(received), lambda r: r.key)
    findings.check("referrals topic: a referral.received event for every referral (none left unpublished)", not never_published,
                   f"missing, not marked sent in intake.outbox: {sample(never_published)}")
    findings.check("referrals topic: one referral.received event per referral",
                   not [r for r, events in received.items() if len(events) > 1],
                   f"several: {sample([r for r, events in received.items() if len(events) > 1])}")
    findings.note("referral.received records delivered more than once",
                  sum(count - 1 for events in received.values() for count in events.values()))
    lost_by_broker = dict(received_lost)

    # An event the broker acknowledged (the outbox row is marked sent) and then lost cannot have
    # effects downstream: those referrals are left out of the services' checks.
    ids = ids - set(received_lost)

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
    assignment_lost, unpublished_assignments = classify_absent(
        stack, findings, "matching", topics.MATCHING, "passerelle.referral.assigned.v1", no_event, lambda r: r.key)
    lost_by_broker.update(assignment_lost)
    findings.check("matching topic: a referral.assigned event for every referral (none left unpublished)", not unpublished_assignments,
                   f"missing, not marked sent in matching.outbox: {sample(unpublished_assignments)}")
    findings.check("matching topic: one referral.assigned event per referral", not twice, f"several event ids: {sample(twice)}")
    mismatched = [r for r in assignments if r in assigned_worker and assigned_worker[r] and assigned_worker[r] != assignments[r]]
    findings.check("matching topic: the event names the link worker of the assignment", not mismatched, f"{sample(mismatched)}")
    findings.note("referral.assigned records delivered more than once",
                  sum(count - 1 for events in assigned_events.values() for count in events.values()))

    # -- notification --------------------------------------------------------------------------
    told = ids - set(assignment_lost)
    notes = stack.rows(f"""SELECT id::text, referral_id::text, recipient_id, template, status, attempts
                           FROM notification.notification WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker'""")
    per_referral = defaultdict(list)
    for note in notes:
        per_referral[note["referral_id"]].append(note)
    findings.check("notification: a link-worker notification for every referral", not (told - set(per_referral)),
                   f"none for: {sample(told - set(per_referral))}")
    several = [referral for referral, items in per_referral.items() if len(items) > 1]
    findings.check("notification: one link-worker notification per referral", not several, f"several for: {sample(several)}")
    ended = ("sent", "failed") if allow_failed else ("sent",)
    unsent = [n["id"] for n in notes if n["status"] not in ended]
    findings.check("notification: every link-worker notification " + " or ".join(ended), not unsent,
                   f"not sent: {sample(unsent)} ({Counter(n['status'] for n in notes if n['status'] not in ended)})")
    failed_here = {n["id"] for n in notes if n["status"] == "failed"} if allow_failed else set()
    findings.failed_notifications = failed_here
    if allow_failed:
        findings.note("link-worker notifications failed", len(failed_here))
        notes = [n for n in notes if n["status"] == "sent"]
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

    def notification_of(record):
        body = json.loads(record.value)
        return str(body.get("notificationId") or body.get("notificationID") or "").lower()

    sent_events = defaultdict(Counter)
    for record in records[topics.NOTIFICATIONS]:
        if record.event_type == "passerelle.notification.sent.v1" and record.key in ids:
            identifier = notification_of(record)
            if identifier in note_ids:
                sent_events[identifier][record.event_id] += 1
    sent_lost, unpublished_sent = classify_absent(
        stack, findings, "notification", topics.NOTIFICATIONS, "passerelle.notification.sent.v1", note_ids - set(sent_events), notification_of)
    lost_by_broker.update(sent_lost)
    findings.check("notifications topic: a notification.sent event for every link-worker notification (none left unpublished)",
                   not unpublished_sent, f"missing, not marked sent in notification.outbox: {sample(unpublished_sent)}")
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

    # Every row marked sent, of every schema, against the place the broker acknowledged it at:
    # a record acknowledged and later dropped is the broker's, whether or not its effects arrived.
    losses = list(lost_by_broker.values())
    findings.note("records lost by the broker (acknowledged at an offset, absent from it)", len(losses))
    if losses:
        findings.note("records lost by the broker, where", "; ".join(loss.describe() for loss in losses[:10]))
    if broker_may_lose:
        findings.broker_lost.extend(losses)
    else:
        # Memory storage keeps whatever it acknowledged: the budget for its losses is 0 too.
        findings.check("broker: every record it acknowledged is on its topic, at the offset it gave", not losses,
                       "acknowledged to the producing relay, then absent: " + "; ".join(loss.describe() for loss in losses[:5]))

    # -- dead letters --------------------------------------------------------------------------
    foreign = []
    failed_expected = set(failed_notifications) | failed_here
    dead_notifications = Counter()
    for topic in DLQ_TOPICS:
        for record in records[topic]:
            if topic == topics.NOTIFICATIONS + ".dlq" and record.event_type == "passerelle.notification.failed.v1":
                try:
                    identifier = str(json.loads(record.value).get("notificationID") or "").lower()
                except ValueError:
                    identifier = ""
                if identifier in failed_expected:
                    dead_notifications[identifier] += 1
                    continue
            if record.key not in poison_keys:
                foreign.append(f"{topic}:{record.offset} ({record.headers.get('dlq_consumer')}: {record.headers.get('dlq_error', '')[:120]})")
    findings.check("dead-letter topics hold only the poison records" + (" and the failed notifications" if failed_expected else ""),
                   not foreign, "; ".join(foreign[:3]))
    if failed_here:
        unlisted = [i for i in failed_here if dead_notifications[i] != 1]
        findings.check("notifications dead-letter topic: each failed notification once", not unlisted,
                       f"{sample([(i, dead_notifications[i]) for i in unlisted])}")

    # -- everyone back ---------------------------------------------------------------------------
    not_ready = fleet.not_ready()
    findings.check("every service ready (/health/ready 200)", not not_ready, f"not ready: {not_ready}")
    return findings
