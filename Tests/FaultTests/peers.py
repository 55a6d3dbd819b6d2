"""The `peers` scenario's outside world and its ledger: four link workers told by e-mail through
the harness's SMTP relay (relay.py), two of them through a slow relay, two through one that is
slow and also answers 451, 554 or drops the connection; the other two by webhook at a receiver
that hangs past the senders' timeout, answers 429 with Retry-After or 503 for some requests.

The ledger then holds each link-worker notification of the scenario to this, from what the relay
and the receiver saw and what notification recorded:

- it ended sent or failed, and its outbox holds exactly one `notification.sent` or one
  `notification.failed` for it, matching;
- no two attempts at it were in flight at once (a connection to the relay, or a request to the
  receiver, opened before the previous one closed);
- it was attempted again only after an answer that asked for a retry (451, 429, 503) or left it in
  doubt (a connection dropped after the data, a receiver that never answered); after a 250, a
  204 or a 554 nothing more;
- sent means its last attempt was taken (250 or 204); failed means refused for good (554) or out
  of attempts;
- after a 429 the next attempt waited at least the Retry-After;
- a hanging receiver was hung up on within the HTTP timeout (and a second)."""
import json
import random
import threading
from collections import Counter, defaultdict

from ledger import sample, uuid_array

# What ends an exchange for good, what asks for another attempt, what leaves it in doubt.
TAKEN = {"250", "204"}
REFUSED = {"554"}
RETRY = {"451", "429", "503"}
DOUBT = {"dropped after data", "hung"}


class PeerFaults:
    """The receiver's misbehaviour for the webhook link workers during the scenario."""

    def __init__(self, workers, hang_seconds, seed=11, shares=None):
        self.workers = set(workers)
        self.hang_seconds = hang_seconds
        self.shares = shares or {"hang": 0.06, "429": 0.08, "503": 0.05}
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def __call__(self, path):
        if path.rsplit("/", 1)[-1] not in self.workers:
            return None
        with self.lock:
            roll = self.random.random()
        for fault, share in self.shares.items():
            if roll < share:
                return ("hang", self.hang_seconds) if fault == "hang" else ("status", int(fault), 1 if fault == "429" else None)
            roll -= share
        return None


class Deliveries:
    """What arrived, as the reconciliation reads the receiver: arrivals by notification id (the
    relay's accepted and in-doubt messages included) and the worker each was addressed to."""

    def __init__(self, receiver, relay):
        self.receiver = receiver
        self.relay = relay

    @property
    def rejected(self):
        return self.receiver.rejected

    @property
    def interrupted(self):
        return self.receiver.interrupted

    def snapshot(self):
        arrivals, paths = self.receiver.snapshot()
        transactions, _ = self.relay.snapshot()
        for t in transactions:
            if t.outcome in ("250", "dropped after data"):
                arrivals[t.message_id] = arrivals.get(t.message_id, 0) + 1
                paths[t.message_id] = f"/webhook/{self.relay.worker(t.recipient)}"
        return arrivals, paths


def attempts_seen(relay, receiver):
    """Per notification id, every attempt the peers saw: (start, end, outcome, detail), in order."""
    seen = defaultdict(list)
    transactions, _ = relay.snapshot()
    for t in transactions:
        seen[t.message_id].append((t.opened, t.ended, t.outcome, "smtp"))
    with receiver.lock:
        requests = [dict(r) for r in receiver.requests]
    for r in requests:
        seen[r["id"]].append((r["came"], r["ended"], r["outcome"], r.get("sender hung up after")))
    for attempts in seen.values():
        attempts.sort(key=lambda a: a[0])
    return seen, requests


def check(stack, relay, receiver, ids, max_attempts, http_timeout, findings):
    array = uuid_array(ids) if ids else "'{}'::uuid[]"
    notes = {r["id"]: r for r in stack.rows(f"""
        SELECT id::text, status, attempts, channel, last_error FROM notification.notification
        WHERE referral_id = ANY ({array}) AND recipient_kind = 'link-worker'""")}
    events = defaultdict(Counter)
    for row in stack.rows(f"""
            SELECT lower(payload::jsonb->>'notificationID') AS id, event_type, sent_at IS NOT NULL AS published
            FROM notification.outbox WHERE topic = 'passerelle.notifications.v1'
              AND lower(payload::jsonb->>'notificationID') = ANY ({json_text_array(notes)})"""):
        events[row["id"]][(row["event_type"].split(".")[2], row["published"])] += 1
    seen, requests = attempts_seen(relay, receiver)

    figures = Counter(n["status"] + " by " + (n["channel"] or "?") for n in notes.values())
    findings.note("peers: link-worker notifications", dict(figures))
    outcomes = Counter(a[2] for identifier in notes for a in seen.get(identifier, []))
    findings.note("peers: attempts the relay and receiver saw, by answer", dict(outcomes))
    findings.note("peers: connections dropped at RCPT (before any data)", relay.snapshot()[1])

    open_ = [i for i, n in notes.items() if n["status"] not in ("sent", "failed")]
    findings.check("peers: every notification ended sent or failed", not open_, f"{sample(open_)}")
    wrong_events = []
    for identifier, note in notes.items():
        got = events.get(identifier, Counter())
        expected = {"sent": ("sent", True), "failed": ("failed", True)}.get(note["status"])
        if expected is None or got != Counter({expected: 1}):
            wrong_events.append(f"{identifier} {note['status']}: {dict(got)}")
    findings.check("peers: exactly one published notification.sent or notification.failed each, matching its state",
                   not wrong_events, "; ".join(wrong_events[:3]))

    overlapping, early, bad_end, unexplained_failure, unseen, short_wait = [], [], [], [], [], []
    for identifier, note in notes.items():
        attempts = seen.get(identifier, [])
        if not attempts:
            # Every attempt failed before the data (a dropped RCPT, a timeout): allowed when out of attempts.
            if not (note["status"] == "failed" and note["attempts"] >= max_attempts):
                unseen.append(f"{identifier} {note['status']} after {note['attempts']}")
            continue
        for previous, following in zip(attempts, attempts[1:]):
            if previous[1] is None or following[0] < previous[1]:
                overlapping.append(f"{identifier}: {previous[2]} open until {previous[1]}, next at {following[0]:.3f}")
            if previous[2] not in RETRY | DOUBT:
                early.append(f"{identifier}: again after {previous[2]}")
            if previous[2] == "429" and following[0] - previous[1] < 1 - 0.05:
                short_wait.append(f"{identifier}: {following[0] - previous[1]:.2f}s after 429")
        last = attempts[-1][2]
        if note["status"] == "sent" and last not in TAKEN:
            bad_end.append(f"{identifier} sent, last answer {last}")
        if note["status"] == "failed" and last not in REFUSED and note["attempts"] < max_attempts:
            unexplained_failure.append(f"{identifier} failed after {note['attempts']}, last answer {last}: {note['last_error']}")
    findings.check("peers: never two attempts at one message at once", not overlapping, "; ".join(overlapping[:3]))
    findings.check("peers: sent again only after 451/429/503 or an answer left in doubt", not early, "; ".join(early[:3]))
    findings.check("peers: sent means taken (250/204) at the last attempt", not bad_end, "; ".join(bad_end[:3]))
    findings.check("peers: failed means refused for good (554) or out of attempts", not unexplained_failure,
                   "; ".join(unexplained_failure[:3]))
    findings.check("peers: every notification's attempts seen by a peer, or it ran out of attempts", not unseen, "; ".join(unseen[:3]))
    findings.check("peers: after a 429 with Retry-After: 1, the next attempt waited at least 1 s", not short_wait, "; ".join(short_wait[:3]))
    hung = [r for r in requests if r["outcome"] == "hung"]
    held = [r.get("sender hung up after") for r in hung]
    late = [h for h in held if h is None or h > http_timeout + 1.0]
    findings.note("peers: hanging requests, and when the sender hung up (s)", f"{len(hung)}: {sorted(h for h in held if h is not None)[:8]}")
    findings.check(f"peers: a hanging receiver was hung up on within the HTTP timeout ({http_timeout:g} s) and a second",
                   not late, f"{len(late)} late: {late[:5]}")
    resent = sum(1 for identifier in notes for a in seen.get(identifier, [])[:-1] if a[2] in DOUBT)
    findings.note("peers: messages sent again after an answer left in doubt (same Message-ID / webhook-id)", resent)
    return findings


def json_text_array(items):
    return "ARRAY[" + ",".join(f"'{i}'" for i in items) + "]::text[]" if items else "'{}'::text[]"
