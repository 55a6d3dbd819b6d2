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


def classify_absent(stack, findings, schema, topic, event_type, missing, identify, identity=None):
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
    identity = identity or OUTBOX_IDENTITY[event_type]
    rows = stack.rows(f"""SELECT {identity} AS identifier, event_id::text, lower(record_key) AS record_key, sent_at IS NOT NULL AS acknowledged, attempts,
                                 last_error, created_at, sent_at, sent_partition, sent_offset
                          FROM {schema}.outbox WHERE event_type = '{event_type}' AND {identity} = ANY ({text_array(confirmed)})""")
    lost, unproven = {}, []
    for row in rows:
        if not row["acknowledged"]:
            continue
        if row["sent_partition"] is None or row["sent_offset"] is None:
            # Marked sent, yet no acknowledgement recorded: nothing shows the broker ever had it.
            # (An offset of -1 is an acknowledgement without a place: the broker answered that it
            # already had the batch, a retry's duplicate sequence, which librdkafka reports as
            # delivered. The broker claimed the record; if the topic lacks it, the loss is its own.)
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


# What notification records on a message for the client (or a partner, who is told about the
# client) while the client's profile has not reached it; such a message waits up to a day.
AWAITING_PROFILE_TEXT = "the client's contact details have not arrived yet"
AWAITING_PROFILE = AWAITING_PROFILE_TEXT.replace("'", "''")


def progress(stack, receiver, ids, allow_failed=False, gone=frozenset(), driven=frozenset()):
    """Where the loop stands for `ids`: one tuple, compared between polls to tell quiet.
    `allow_failed`: a notification failed for good counts as ended (the peers scenario).
    `gone`: referrals whose client was erased (counted as absent from intake, matching and
    evaluation); `driven`: referrals driven through their whole pathway."""
    present = uuid_array(set(ids) - set(gone))
    kept = uuid_array(set(driven) - set(gone))
    erased = uuid_array(gone)
    row = stack.rows(f"""
        SELECT
          (SELECT count(*) FROM intake.referral WHERE id = ANY ({present})) AS intake,
          (SELECT count(*) FROM matching.assignment WHERE referral_id = ANY ({present})) AS assigned,
          (SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({kept}) AND status = 'completed') AS closed,
          (SELECT count(*) FROM matching.connection WHERE referral_id = ANY ({kept}) AND status = 'dropped') AS released,
          (SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({erased})) + (SELECT count(*) FROM matching.connection WHERE referral_id = ANY ({erased}))
            + (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({erased}) AND address IS NOT NULL) AS erasures_left,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({present}) AND recipient_kind = 'link-worker') AS planned,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({present}) AND recipient_kind = 'link-worker' AND status = 'sent') AS sent,
          (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({present}) AND recipient_kind = 'link-worker' AND status = 'failed') AS failed,
          (SELECT count(*) FROM notification.notification WHERE status IN ('pending', 'deferred', 'sending')) AS undelivered,
          (SELECT count(*) FROM notification.notification WHERE status = 'pending' AND last_error = '{AWAITING_PROFILE}') AS awaiting_profile,
          (SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({present})) AS pathways,
          (SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM matching.outbox WHERE sent_at IS NULL)
            + (SELECT count(*) FROM notification.outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM evaluation.outbox WHERE sent_at IS NULL) AS unpublished,
          (SELECT count(*) FROM matching.processed_events) + (SELECT count(*) FROM notification.processed_events)
            + (SELECT count(*) FROM evaluation.processed_events) AS processed
        """)[0]
    notification_ids = [r["id"] for r in stack.rows(
        f"SELECT id FROM notification.notification WHERE referral_id = ANY ({present}) AND recipient_kind = 'link-worker'"
        + (" AND status = 'sent'" if allow_failed else ""))]
    arrivals, _ = receiver.snapshot()
    row["delivered"] = sum(1 for identifier in notification_ids if arrivals.get(identifier, 0) > 0)
    if allow_failed:  # ended: sent (and arrived) or failed
        row["sent"] += row["failed"]
        row["delivered"] += row["failed"]
    return row


def wait_quiet(stack, receiver, ids, timeout, stable_for=3.0, stalled_for=40.0, allow_failed=False, gone=frozenset(), driven=frozenset()):
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
            current = progress(stack, receiver, ids, allow_failed, gone, driven)
        except RuntimeError as error:  # PostgreSQL may still be coming back
            log(f"  progress not readable yet: {error}")
            time.sleep(1)
            continue
        # A message waiting for its client's profile waits a day: it does not hold the settling
        # up, but the wait is longer, so a profile merely late still arrives, and the
        # reconciliation fails each one whose profile the broker did not lose.
        waiting = current["awaiting_profile"]
        idle = current["undelivered"] - waiting == 0 and current["unpublished"] == 0
        present = expected - len(gone)
        kept = len(set(driven) - set(gone))
        complete = (idle and all(current[name] == present for name in ("intake", "assigned", "pathways", "planned", "sent", "delivered"))
                    and current["closed"] == kept and current["released"] == kept and current["erasures_left"] == 0)
        if current != last:
            last, since = current, time.monotonic()
        if time.monotonic() - reported >= 10:
            reported = time.monotonic()
            log(f"  settling ({reported - started:.0f}s): {current}")
        elif complete and time.monotonic() - since >= (stable_for if not waiting else max(stable_for, 20.0)):
            return "complete", time.monotonic() - started, current
        elif not complete and idle and time.monotonic() - since >= stalled_for:
            log(f"  nothing in flight and nothing moved for {stalled_for:.0f}s: effects are missing")
            return "stalled", time.monotonic() - started, current
        time.sleep(0.5)
    return "timeout", time.monotonic() - started, current


def reconcile(stack, receiver, fleet, stream, poison_keys=frozenset(), broker_may_lose=False, allow_failed=False,
              failed_notifications=frozenset(), pathway=None, pseudonym_key=None):
    """Every check for the scenario's accepted referrals. `broker_may_lose`: records the broker
    acknowledged and then lost are reported apart instead of failing (the broker on S3 storage).
    `allow_failed`: a link-worker notification may end failed (peers.py says whether rightly);
    the checks of arrival and of `notification.sent` then concern the sent ones, and each failed
    one is expected once on the notifications' dead-letter topic, as are those of earlier
    scenarios (`failed_notifications`); the scenario's are left in `findings.failed_notifications`."""
    findings = Findings()
    accepted = dict(stream.accepted)
    ids = set(accepted.values())
    # Referrals whose client the pathway erased: gone from intake, matching and evaluation, and
    # checked as such in reconcile_pathway.
    gone = pathway.erased() if pathway is not None else set()
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
    findings.check("intake: every accepted referral stored" + (" (its client not erased)" if gone else ""), not (ids - gone - stored),
                   f"missing: {sample(ids - gone - stored)}")
    findings.check("intake: no referral stored twice (a retried key made no new referral)", not (stored - ids),
                   f"not accepted yet stored: {sample(stored - ids)}")
    keyed = {r["key"]: r["referral_id"] for r in stack.rows(
        f"SELECT key, referral_id::text FROM intake.idempotency_key WHERE key LIKE '{stream.tag}-%'")}
    wrong = [key for key, identifier in accepted.items() if identifier not in gone and keyed.get(key) != identifier]
    findings.check("intake: each idempotency key holds the referral the client was given", not wrong, f"keys: {sample(wrong)}")

    # Every topic in one pass: reading waits for the broker to go idle, once.
    started = time.monotonic()
    names = [topics.REFERRALS, topics.MATCHING, topics.NOTIFICATIONS] + DLQ_TOPICS
    if pathway is not None:
        names += [topics.CLIENTS, topics.EVALUATION]
    records = topics.read_topics(stack.bootstrap, names)
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
    findings.check("matching: every referral assigned" + (" (its client not erased)" if gone else ""), not (ids - gone - set(assignments)),
                   f"unassigned: {sample(ids - gone - set(assignments))}")
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
    findings.check("notification: a link-worker notification for every referral" + (" (its client not erased)" if gone else ""),
                   not (told - gone - set(per_referral)), f"none for: {sample(told - gone - set(per_referral))}")
    # Erased before notification planned or sent it: dropped, or withheld (checked in reconcile_pathway).
    findings.note("link-worker notifications of erased clients' referrals withheld or never planned",
                  sum(1 for r in gone if not per_referral.get(r) or per_referral[r][0]["status"] == "withheld"))
    notes = [n for n in notes if not (n["referral_id"] in gone and n["status"] == "withheld")]
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
    findings.note("requests whose sender went away before the whole body came (sent again, not deliveries)", len(receiver.interrupted))

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
    findings.check("evaluation: a pathway for every referral" + (" (its client not erased)" if gone else ""), not (ids - gone - pathways),
                   f"missing: {sample(ids - gone - pathways)}")
    counted = stack.value(f"SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({array})")
    findings.check("evaluation: each pathway counted once", counted == len(ids - gone), f"{counted} rows for {len(ids - gone)} referrals")

    if pathway is not None:
        lost_by_broker.update(reconcile_pathway(stack, receiver, records, pathway, pseudonym_key, findings, set(lost_by_broker)))

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
    not_ready = fleet.not_ready_readiness()
    findings.check("every service ready (/health/ready 200)", not not_ready, f"not ready: {not_ready}")
    return findings


# -- the whole pathway ---------------------------------------------------------------------------

def pseudonym(key, kind, identifier):
    """Evaluation's analyst pseudonym: lowercase hex HMAC-SHA256 of `kind:id` under the key."""
    import hashlib
    import hmac
    return hmac.new(key.encode(), f"{kind}:{identifier.lower()}".encode(), hashlib.sha256).hexdigest()


def body_of(record):
    try:
        return json.loads(record.value) if record.value else {}
    except ValueError:
        return {}


# Each effect of a driven step: (topic, event type, producing schema, the payload member telling
# effects of one type apart or None, which referrals owe it). `owed` takes (completed,
# consent changed, erased, consented at the outcome) and answers a set of referrals.
PATHWAY_EFFECTS = [
    (topics.REFERRALS, "passerelle.referral.status-changed.v1", "intake", "accepted", lambda p, c, e, o: p),
    (topics.REFERRALS, "passerelle.referral.status-changed.v1", "intake", "in-progress", lambda p, c, e, o: p),
    (topics.REFERRALS, "passerelle.referral.status-changed.v1", "intake", "completed", lambda p, c, e, o: p),
    (topics.REFERRALS, "passerelle.contact.logged.v1", "intake", None, lambda p, c, e, o: p),
    (topics.REFERRALS, "passerelle.client.consent-changed.v1", "intake", None, lambda p, c, e, o: c),
    (topics.REFERRALS, "passerelle.client.erased.v1", "intake", None, lambda p, c, e, o: e),
    (topics.MATCHING, "passerelle.connection.proposed.v1", "matching", None, lambda p, c, e, o: p),
    (topics.MATCHING, "passerelle.connection.changed.v1", "matching", "accepted", lambda p, c, e, o: p),
    (topics.MATCHING, "passerelle.connection.changed.v1", "matching", "enrolled", lambda p, c, e, o: p),
    # Completion frees what the referral holds: its open connection is dropped, its seat given back.
    (topics.MATCHING, "passerelle.connection.changed.v1", "matching", "dropped", lambda p, c, e, o: p),
    # The analyst stream, keyed by the pathway's pseudonym: an outcome for those who consented
    # when it was recorded, a retraction for each erased client's pathway.
    (topics.EVALUATION, "passerelle.outcome.recorded.v1", "evaluation", None, lambda p, c, e, o: o),
    (topics.EVALUATION, "passerelle.pathway.retracted.v1", "evaluation", None, lambda p, c, e, o: e),
]
# The notifications a completed pathway plans (NotificationRules): the link worker on the
# assignment; client and referrer on acceptance; the client on the proposal; client, referrer and
# partner on enrolment; the referrer on completion.
NOTIFICATIONS_PER_PATHWAY = 8


def reconcile_pathway(stack, receiver, records, driver, key, findings, already_lost):
    """Every effect of the driven steps once in every schema and on every topic, and erased
    clients gone everywhere. Returns the records lost by the broker among them ({id: BrokerLoss});
    the referrals concerned are left out of the checks downstream of them."""
    summary = driver.summary()
    for name, value in summary.items():
        findings.note(f"pathway {name}", value)
    # A referral whose received or assigned event the broker lost (with proof) cannot be driven on.
    refusals = [(r, why) for r, why in driver.refusals() if r not in already_lost]
    findings.check("pathway: every accepted referral driven through every step (no refusal, nothing given up)",
                   not refusals and summary["driven"] == len(driver.stream.accepted),
                   f"{len(refusals)} stopped, e.g. {refusals[:3]}; {summary['driven']} driven of {len(driver.stream.accepted)}")
    with driver.lock:
        states = {r: dict(s) for r, s in driver.states.items()}
    done = {r for r, s in states.items() if s["finished"]} - set(already_lost)
    changed = {r for r in done if "consent" in states[r]["done"]}
    erased = {r for r in done if "erase" in states[r]["done"]}
    consented_at_outcome = {r for r in done if states[r]["evaluationUse"]}
    final_consent = {r: states[r]["evaluationUse"] != (r in changed) for r in done}
    kept = done - erased
    by_pseudonym = {pseudonym(key, "referral", r): r for r in states}
    pathway_of = {r: p for p, r in by_pseudonym.items()}

    # -- on every topic, once ------------------------------------------------------------------
    found = defaultdict(Counter)  # (event type, referral, discriminator) -> event id -> records
    for topic in (topics.REFERRALS, topics.MATCHING, topics.EVALUATION):
        for record in records[topic]:
            referral = by_pseudonym.get(record.key, record.key) if topic == topics.EVALUATION else record.key
            if referral not in states:
                continue
            found[(record.event_type, referral, body_of(record).get("to") or "")][record.event_id] += 1
    losses = {}
    excused = set()
    for topic, event_type, schema, to, owed in PATHWAY_EFFECTS:
        expected = owed(done, changed, erased, consented_at_outcome)
        label = event_type.split(".", 1)[1].rsplit(".", 1)[0] + (f" to {to}" if to else "")
        present = {r for r in states if found.get((event_type, r, to or ""))}
        missing = expected - present
        twice = [r for r in present if len(found[(event_type, r, to or "")]) > 1]
        unasked = present - expected - (set(states) - done)  # what no completed step asked for
        if missing:
            on_analyst = topic == topics.EVALUATION
            keys = {(pathway_of[r] if on_analyst else r) + "|" + (to or "") for r in missing}
            lost, unpublished = classify_absent(
                stack, findings, schema, topic, event_type, keys, lambda record: f"{record.key}|{body_of(record).get('to') or ''}",
                identity=f"lower(record_key) || '|' || coalesce(payload::jsonb->>'to', '')")
            for identifier, loss in lost.items():
                referral = by_pseudonym.get(identifier.split("|")[0], identifier.split("|")[0])
                excused.add(referral)
                losses[f"{event_type}|{identifier}"] = loss
            missing_here = {by_pseudonym.get(k.split("|")[0], k.split("|")[0]) for k in unpublished}
        else:
            missing_here = set()
        findings.check(f"{topic}: a {label} event for each referral that owes one (none left unpublished)", not missing_here,
                       f"missing: {sample(missing_here)}")
        findings.check(f"{topic}: one {label} event per referral", not twice, f"several event ids: {sample(twice)}")
        findings.check(f"{topic}: no {label} event for a referral that does not owe one", not unasked, f"{sample(unasked)}")
        findings.note(f"{label} records delivered more than once",
                      sum(n - 1 for r in present for n in found[(event_type, r, to or "")].values()))
    done -= excused
    kept -= excused
    erased -= excused

    # The analyst stream: at most one pathway.updated per event that reaches analysts (the
    # referral received, three status changes, the proposal and three connection changes, the
    # consent change, each unmet need); each one written once by evaluation (one outbox row per
    # event id, every row on the topic); nothing for a client who never consented; a withdrawal
    # stops the stream, a consent given starts it, and those who consent at the end see their
    # pathway completed.
    unmet = Counter(r.key for r in records[topics.MATCHING] if r.event_type == "passerelle.need.unmet.v1" and r.key in states)
    updates = defaultdict(set)  # referral -> event ids
    last_status, last_version = {}, {}
    for record in records[topics.EVALUATION]:
        referral = by_pseudonym.get(record.key)
        if referral is None or record.event_type != "passerelle.pathway.updated.v1":
            continue
        body = body_of(record)
        updates[referral].add(record.event_id)
        if body.get("pathwayVersion", 0) >= last_version.get(referral, 0):
            last_version[referral] = body.get("pathwayVersion", 0)
            last_status[referral] = body.get("status")
    bound = {r: 1 + 3 + 1 + 3 + (1 if r in changed else 0) + unmet[r] for r in done}
    doubled = [r for r in done if len(updates.get(r, ())) > bound[r]]
    findings.check("analyst topic: at most one pathway.updated per event reaching analysts", not doubled,
                   f"{sample(doubled)} ({[(len(updates[r]), bound[r]) for r in doubled[:3]]})")
    written = {row["event_id"] for row in stack.rows(
        f"""SELECT event_id::text FROM evaluation.outbox WHERE event_type = 'passerelle.pathway.updated.v1'
            AND record_key = ANY ({text_array(pathway_of[r] for r in done)})""")}
    published = set().union(*(updates.get(r, set()) for r in done)) if done else set()
    # Written and not on the topic: the broker's loss if the row records where it was
    # acknowledged and the topic holds something else there, else Passerelle's.
    lost, unpublished = classify_absent(stack, findings, "evaluation", topics.EVALUATION, "passerelle.pathway.updated.v1", written - published,
                                        lambda record: record.event_id, identity="lower(event_id::text)")
    for identifier, loss in lost.items():
        losses[f"passerelle.pathway.updated.v1|{identifier}"] = loss
        excused.add(by_pseudonym.get(loss.row.get("record_key", ""), ""))
    findings.check("analyst topic: every pathway.updated evaluation wrote is on the topic (none left unpublished)", not unpublished,
                   f"{len(unpublished)}: {sample(unpublished)}")
    findings.check("analyst topic: no pathway.updated on the topic that evaluation did not write", not (published - written),
                   f"{sample(published - written)}")
    never = {r for r in done if not states[r]["evaluationUse"] and r not in changed}
    leaked = [r for r in never if r in updates or found.get(("passerelle.outcome.recorded.v1", r, ""))]
    findings.check("analyst topic: nothing about a client who never consented to evaluation use", not leaked, f"{sample(leaked)}")
    withdrawn = {r for r in changed if states[r]["evaluationUse"]}
    after_withdrawal = [r for r in withdrawn if last_status.get(r) == "completed"]
    findings.check("analyst topic: nothing after a client withdrew consent (their completion not published)", not after_withdrawal,
                   f"{sample(after_withdrawal)}")
    consenting = {r for r in kept - excused if final_consent[r]}
    unfinished = [r for r in consenting if last_status.get(r) != "completed"]
    findings.check("analyst topic: each consenting client's pathway last published completed", not unfinished,
                   f"{sample(unfinished)} ({Counter(last_status.get(r) for r in unfinished)})")
    findings.note("pathway.updated events for the driven referrals", sum(len(updates.get(r, ())) for r in done))

    # -- in every schema, once -------------------------------------------------------------------
    kept_array, done_array = uuid_array(kept), uuid_array(done)
    statuses = {r["id"]: r["status"] for r in stack.rows(f"SELECT id::text, status FROM intake.referral WHERE id = ANY ({kept_array})")}
    open_ones = [r for r in kept if statuses.get(r) != "completed"]
    findings.check("intake: every driven referral completed", not open_ones, f"{sample(open_ones)} ({Counter(statuses.get(r) for r in open_ones)})")
    history = Counter((r["referral_id"], r["to_status"]) for r in stack.rows(
        f"SELECT referral_id::text, to_status FROM intake.referral_status_history WHERE referral_id = ANY ({kept_array})"))
    wrong = [r for r in kept for status in ("accepted", "in-progress", "completed") if history[(r, status)] != 1]
    findings.check("intake: one status-history row per transition", not wrong, f"{sample(set(wrong))}")
    contacts = Counter(r["referral_id"] for r in stack.rows(
        f"SELECT referral_id::text FROM intake.casework_contact WHERE referral_id = ANY ({kept_array})"))
    wrong = [r for r in kept if contacts[r] != 1]
    findings.check("intake: one contact logged per referral", not wrong, f"{sample(wrong)} ({Counter(contacts[r] for r in wrong)})")
    outbox = Counter((r["k"], r["event_type"], r["to"]) for r in stack.rows(
        f"""SELECT lower(record_key) AS k, event_type, coalesce(payload::jsonb->>'to', '') AS to FROM intake.outbox
            WHERE lower(record_key) = ANY ({text_array(done)}) AND event_type <> 'passerelle.referral.received.v1'"""))
    wrong = [(r, t, to) for (r, t, to), n in outbox.items() if n != 1]
    findings.check("intake.outbox: one row per effect", not wrong, f"{wrong[:3]}")

    connections = defaultdict(list)
    for row in stack.rows(f"SELECT referral_id::text, id::text, resource_id::text, status FROM matching.connection WHERE referral_id = ANY ({kept_array})"):
        connections[row["referral_id"]].append(row)
    wrong = [r for r in kept if len(connections[r]) != 1 or connections[r][0]["status"] != "dropped"
             or connections[r][0]["id"] != states[r]["connection"]]
    findings.check("matching: one connection per referral, the one proposed, released at completion (dropped)", not wrong,
                   f"{sample(wrong)} ({[connections[r] for r in wrong[:2]]})")
    seats = stack.rows("""SELECT r.id::text, r.seats_taken, (SELECT count(*) FROM matching.connection c WHERE c.resource_id = r.id
                                                          AND c.status IN ('proposed', 'accepted', 'enrolled', 'attended')) AS open
                          FROM matching.community_resource r""")
    wrong = [f"{s['id']}: {s['seats_taken']} taken, {s['open']} open" for s in seats if s["seats_taken"] != s["open"]]
    findings.check("matching: seats taken add up to the open connections (no double count)", not wrong, "; ".join(wrong[:3]))

    pathways = {r["referral_id"]: r for r in stack.rows(
        f"SELECT referral_id::text, status, consent_evaluation_use FROM evaluation.pathway WHERE referral_id = ANY ({kept_array})")}
    wrong = [r for r in kept if r not in pathways or pathways[r]["status"] != "completed" or pathways[r]["consent_evaluation_use"] != final_consent[r]]
    findings.check("evaluation: every driven pathway completed, with the client's last consent", not wrong,
                   f"{sample(wrong)} ({[pathways.get(r) for r in wrong[:2]]})")
    measures = Counter(r["referral_id"] for r in stack.rows(
        f"SELECT referral_id::text FROM evaluation.outcome_measure WHERE referral_id = ANY ({kept_array}) AND instrument = 'ucla3' AND timepoint = 'baseline'"))
    wrong = [r for r in kept if measures[r] != 1]
    findings.check("evaluation: one UCLA-3 baseline per referral", not wrong, f"{sample(wrong)}")

    notes = stack.rows(f"""SELECT id::text, referral_id::text, recipient_kind, recipient_id, template, status, last_error, address
                           FROM notification.notification WHERE referral_id = ANY ({done_array})""")
    per = defaultdict(Counter)
    for note in notes:
        per[note["referral_id"]][(note["recipient_kind"], note["recipient_id"], note["template"])] += 1
    doubled = [r for r, counts in per.items() if any(n > 1 for n in counts.values())]
    findings.check("notification: one notification per occasion and recipient", not doubled, f"{sample(doubled)}")
    short = [r for r in kept if sum(per[r].values()) != NOTIFICATIONS_PER_PATHWAY]
    findings.check(f"notification: the {NOTIFICATIONS_PER_PATHWAY} notifications of a completed pathway planned", not short,
                   f"{sample(short)} ({Counter(sum(per[r].values()) for r in short)})")
    findings.note("notifications of the driven referrals", dict(Counter(f"{n['recipient_kind']} {n['status']}" for n in notes)))
    unended = [n for n in notes if n["status"] not in ("sent", "withheld")]
    # A message still waiting for its client's profile: the broker's doing if the profile is
    # absent from the clients topic though intake's outbox records where it was acknowledged.
    awaiting = {n["id"]: states[n["referral_id"]]["client"] for n in unended
                if n["status"] == "pending" and n["last_error"] == AWAITING_PROFILE_TEXT and n["referral_id"] in kept}
    if awaiting:
        profiled = {record.key for record in records[topics.CLIENTS] if record.value is not None}
        lost, _ = classify_absent(stack, findings, "intake", topics.CLIENTS, "passerelle.client.profile.v1",
                                  set(awaiting.values()) - profiled, lambda record: record.key if record.value is not None else None,
                                  identity="lower(record_key)")
        for identifier, loss in lost.items():
            losses[f"passerelle.client.profile.v1|{identifier}"] = loss
        excused_notes = {n for n, client in awaiting.items() if client in lost}
        findings.note("messages waiting for a client profile the broker lost (excused)", len(excused_notes))
        unended = [n for n in unended if n["id"] not in excused_notes]
    findings.check("notification: each sent or withheld", not unended,
                   f"{len(unended)}: {[(n['id'], n['recipient_kind'], n['status'], (n['last_error'] or '')[:80]) for n in unended[:3]]}")
    # Every client consents to contact and to sharing with partners: only an erasure withholds.
    withheld = [n["id"] for n in notes if n["status"] == "withheld" and n["referral_id"] in kept]
    findings.check("notification: every notification of a referral whose client was not erased sent", not withheld,
                   f"withheld: {sample(withheld)}")
    arrivals, _ = receiver.snapshot()
    sent = {n["id"] for n in notes if n["status"] == "sent"}
    never = [i for i in sent if arrivals.get(i, 0) == 0]
    findings.check("receiver: every sent notification of the pathway arrived (webhook or SMS)", not never, f"{sample(never)}")
    findings.note("pathway notifications arrived more than once (same id)", sum(arrivals.get(i, 0) - 1 for i in sent if arrivals.get(i, 0) > 1))
    told = defaultdict(set)
    for record in records[topics.NOTIFICATIONS]:
        if record.event_type == "passerelle.notification.sent.v1":
            body = body_of(record)
            told[str(body.get("notificationID") or body.get("notificationId") or "").lower()].add(record.event_id)
    twice = [i for i in sent if len(told.get(i, ())) > 1]

    def notification_of(record):
        body = body_of(record)
        return str(body.get("notificationID") or body.get("notificationId") or "").lower()
    lost, untold = classify_absent(stack, findings, "notification", topics.NOTIFICATIONS, "passerelle.notification.sent.v1",
                                   {i for i in sent if not told.get(i)}, notification_of)
    for identifier, loss in lost.items():
        losses[f"passerelle.notification.sent.v1|{identifier}"] = loss
    findings.check("notifications topic: a notification.sent event for every sent notification of the pathway (none left unpublished)",
                   not untold, f"{sample(untold)}")
    findings.check("notifications topic: one notification.sent event per notification of the pathway", not twice, f"{sample(twice)}")

    # -- erased clients gone everywhere ------------------------------------------------------------
    findings.note("erased clients", len(erased))
    if erased:
        e_refs = uuid_array(erased)
        clients = {states[r]["client"] for r in erased}
        e_clients = uuid_array(clients)
        left = stack.rows(f"""SELECT
            (SELECT count(*) FROM intake.client WHERE id = ANY ({e_clients})) AS intake_client,
            (SELECT count(*) FROM intake.referral WHERE id = ANY ({e_refs})) AS intake_referral,
            (SELECT count(*) FROM intake.referral_status_history WHERE referral_id = ANY ({e_refs})) AS intake_history,
            (SELECT count(*) FROM intake.casework_contact WHERE referral_id = ANY ({e_refs})) AS intake_contact,
            (SELECT count(*) FROM intake.outbox WHERE event_type = 'passerelle.client.profile.v1' AND lower(record_key) = ANY ({text_array(clients)})) AS intake_profiles,
            (SELECT count(*) FROM matching.connection WHERE referral_id = ANY ({e_refs})) AS matching_connection,
            (SELECT count(*) FROM matching.assignment WHERE referral_id = ANY ({e_refs})) AS matching_assignment,
            (SELECT count(*) FROM matching.referral_match WHERE referral_id = ANY ({e_refs})) AS matching_match,
            (SELECT count(*) FROM matching.referral_intake WHERE referral_id = ANY ({e_refs})) AS matching_referral,
            (SELECT count(*) FROM notification.client_contact WHERE client_id = ANY ({e_clients})) AS notification_contact,
            (SELECT count(*) FROM notification.referral_audience WHERE referral_id = ANY ({e_refs})) AS notification_audience,
            (SELECT count(*) FROM notification.notification WHERE referral_id = ANY ({e_refs}) AND (address IS NOT NULL OR facts <> '{{}}'::jsonb)) AS notification_addressed,
            (SELECT count(*) FROM evaluation.pathway WHERE referral_id = ANY ({e_refs})) AS evaluation_pathway,
            (SELECT count(*) FROM evaluation.outcome_measure WHERE referral_id = ANY ({e_refs})) AS evaluation_outcome,
            (SELECT count(*) FROM evaluation.unmet_need WHERE referral_id = ANY ({e_refs})) AS evaluation_unmet_need,
            (SELECT count(*) FROM evaluation.service_use WHERE referral_id = ANY ({e_refs})) AS evaluation_service_use""")[0]
        lingering = {name: count for name, count in left.items() if count}
        findings.check("erasure: nothing left of an erased client in any schema", not lingering, f"{lingering}")
        remembered = stack.rows(f"""SELECT
            (SELECT count(*) FROM matching.erased_referral WHERE referral_id = ANY ({e_refs})) AS matching,
            (SELECT count(*) FROM notification.erased_referral WHERE referral_id = ANY ({e_refs})) AS notification_referrals,
            (SELECT count(*) FROM notification.erased_client WHERE client_id = ANY ({e_clients})) AS notification_clients""")[0]
        findings.check("erasure: matching and notification remember each erased referral (by id only)",
                       remembered["matching"] == len(erased) and remembered["notification_referrals"] == len(erased)
                       and remembered["notification_clients"] == len(clients), f"{remembered} for {len(erased)}")
        last = {}
        profiles = Counter()
        for record in records[topics.CLIENTS]:
            if record.key in clients:
                last[record.key] = record
                if record.value is not None:
                    profiles[record.key] += 1
        not_tombstoned = [c for c in clients if c not in last or last[c].value is not None]
        findings.check("clients topic: each erased client's last record a tombstone", not not_tombstoned, f"{sample(not_tombstoned)}")
        findings.note("profiles of erased clients still on the clients topic before their tombstone (removed by compaction)",
                      sum(profiles.values()))
    return losses
