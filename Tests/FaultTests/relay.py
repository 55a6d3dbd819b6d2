"""An SMTP relay for the fault tests (aiosmtpd, plain SMTP on 127.0.0.1), misbehaving as real
relays do for the link workers whose address asks for it: the part of the local part before "+"
names the behaviour ("mixed+<worker>@faults.example"), the rest names the worker.

- `slow`: every reply after the recipient is given comes `slow_delay` seconds late;
- `mixed`: slow as well, and at the end of the data a draw decides the answer: 451 (try later),
  554 (refused for good), the connection dropped without an answer (the relay has the message:
  the sender cannot know and must send it again, under the same Message-ID), or 250; a
  connection may also be dropped at RCPT, before any data;
- anything else: 250 at once.

Every transaction that reached the end of its data is recorded with its Message-ID, when its
connection opened and closed, and how it was answered: the ledger checks from it that a
message was never in two transactions at once and was sent again only after an answer that left
it in doubt or asked for a retry."""
import asyncio
import email
import email.policy
import random
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Transaction:
    def __init__(self, message_id, recipient, opened, ended, outcome):
        self.message_id = message_id  # the notification id, from <id@domain>
        self.recipient = recipient
        self.opened = opened          # time.time() the connection opened
        self.ended = ended            # when its connection closed (None while open)
        self.outcome = outcome        # "250", "451", "554", "dropped after data"


class FaultySMTP(SMTP):
    def connection_made(self, transport):
        self.opened = time.time()
        self.slow = 0.0
        super().connection_made(transport)

    def connection_lost(self, error):
        record = getattr(self, "transaction", None)
        if record is not None:
            record.ended = time.time()
        super().connection_lost(error)

    async def push(self, status):
        if self.slow:
            await asyncio.sleep(self.slow)
        await super().push(status)


class RelayController(Controller):
    def factory(self):
        return FaultySMTP(self.handler, **self.SMTP_kwargs)


class Relay:
    def __init__(self, port, seed=7, slow_delay=0.15, shares=None):
        self.port = port
        self.slow_delay = slow_delay
        # Of the `mixed` transactions: drawn at the end of the data, except "drop at RCPT".
        self.shares = shares or {"451": 0.12, "554": 0.04, "dropped after data": 0.06, "dropped at RCPT": 0.05}
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.transactions = []          # Transaction, in the order their data ended
        self.dropped_at_rcpt = 0
        self.controller = RelayController(self, hostname="127.0.0.1", port=port)

    def start(self):
        self.controller.start()

    def stop(self):
        try:
            self.controller.stop()
        except Exception:  # never started, or its loop already gone
            pass

    @staticmethod
    def mode(address):
        local = address.split("@", 1)[0]
        return local.split("+", 1)[0] if "+" in local else ""

    @staticmethod
    def worker(address):
        local = address.split("@", 1)[0]
        return local.split("+", 1)[1] if "+" in local else local

    def draw(self):
        with self.lock:
            roll = self.random.random()
        for outcome, share in self.shares.items():
            if roll < share:
                return outcome
            roll -= share
        return "250"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        mode = self.mode(address)
        if mode in ("slow", "mixed"):
            server.slow = self.slow_delay
        if mode == "mixed" and self.draw() == "dropped at RCPT":
            with self.lock:
                self.dropped_at_rcpt += 1
            server.transport.close()
            return "250 OK"  # written to a closed connection: never read
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        message_id = str(message["message-id"] or "").strip("<>").split("@", 1)[0].lower()
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        outcome = "250"
        if self.mode(recipient) == "mixed":
            outcome = self.draw()
            if outcome == "dropped at RCPT":  # drawn again at the end of the data: taken as accepted
                outcome = "250"
        if outcome == "dropped after data":
            server.transport.close()
        elif server.slow:
            await asyncio.sleep(server.slow)  # the reply itself waits once more in push()
        record = Transaction(message_id, recipient, getattr(server, "opened", time.time()), None, outcome)
        server.transaction = record
        if server.transport.is_closing():
            record.ended = time.time()
        with self.lock:
            self.transactions.append(record)
        return {"250": "250 2.0.0 queued", "451": "451 4.3.0 temporary failure, try later",
                "554": "554 5.7.1 message refused by policy", "dropped after data": "250 2.0.0 queued"}[outcome]

    def snapshot(self):
        with self.lock:
            return list(self.transactions), self.dropped_at_rcpt
