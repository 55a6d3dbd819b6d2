"""A real SMTP server for the notification tests (aiosmtpd): STARTTLS with a throw-away
certificate, AUTH PLAIN/LOGIN (only over TLS), and mailbox rules that answer like a real relay:
recipients starting with "invalid" get 550 quoting the address back (as Postfix and Exchange do),
"busy" get 451. Faults on a recipient's first attempt only, then accepted: "flaky" gets 451 at
RCPT, "drop" has its connection closed at RCPT, "refused" gets 452 after the message's data,
"dropdata" has its connection closed after the data without an answer (the message counts as
accepted: the sender cannot know, and sends it again), "hang" gets no answer to RCPT for 60 s.
Every accepted message is appended to --out as one JSON line, with how long its exchange took;
each fault injected to --out + ".events" (for "hang", with when the sender hung up). --reply-delay makes it a slow relay: every reply line waits that long. Prints
"READY <port> <certificate>" and runs until stdin closes."""
import argparse, asyncio, email, email.policy, json, os, ssl, subprocess, sys, tempfile, threading, time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult


class TimedSMTP(SMTP):
    """Notes when each connection started; with a delay, answers every line that much later."""
    reply_delay = 0.0

    def connection_made(self, transport):
        self.started = time.monotonic()
        super().connection_made(transport)

    async def push(self, status):
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        await super().push(status)


class TimedController(Controller):
    def factory(self):
        return TimedSMTP(self.handler, **self.SMTP_kwargs)


class Sink:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.faulted = set()  # (fault, address) already injected once

    def first(self, fault, address):
        """Whether `address` starts with `fault` and has not had it yet."""
        if not address.startswith(fault + "-") or (fault, address) in self.faulted:
            return False
        self.faulted.add((fault, address))
        return True

    def event(self, fault, address, **more):
        with self.lock, open(self.out + ".events", "a", encoding="utf-8") as f:
            f.write(json.dumps({"fault": fault, "to": address, "at": time.time(), **more}) + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("invalid"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such mailbox"
        if address.startswith("busy"):
            return "451 4.3.0 mailbox busy, try later"
        if self.first("flaky", address):
            self.event("flaky", address)
            return "451 4.7.1 greylisted, try again later"
        if self.first("drop", address):
            self.event("drop", address)
            server.transport.close()
            return "250 OK"  # never reaches the closed connection
        if self.first("hang", address):
            started = time.monotonic()
            try:
                while time.monotonic() - started < 60 and not server.transport.is_closing():
                    await asyncio.sleep(0.05)
            finally:
                closed = time.monotonic() - started if server.transport.is_closing() else None
                self.event("hang", address, closedAfter=closed)
            return "451 4.3.0 too late"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        address = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        if self.first("refused", address):
            self.event("refused", address)
            return "452 4.3.1 insufficient system storage"
        dropped = self.first("dropdata", address)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}
        record = {
            "from": envelope.mail_from, "to": envelope.rcpt_tos, "subject": str(message["subject"]),
            "messageID": message["message-id"], "text": parts.get("text/plain"), "html": parts.get("text/html"),
            "tls": session.ssl is not None, "authenticated": bool(session.authenticated),
            "seconds": time.monotonic() - getattr(server, "started", time.monotonic()), "dropped": dropped,
        }
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if dropped:
            self.event("dropdata", address, messageID=record["messageID"])
            server.transport.close()
        return "250 2.0.0 queued"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--reply-delay", type=float, default=0.0)
    args = parser.parse_args()
    TimedSMTP.reply_delay = args.reply_delay

    tls = None
    certificate = "-"
    if not args.no_tls:
        folder = tempfile.mkdtemp(prefix="passerelle-smtp-")
        certificate, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate],
                       check=True, capture_output=True)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(certificate, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = args.user is not None and auth_data.login.decode() == args.user and auth_data.password.decode() == args.password
        return AuthResult(success=ok)

    options = dict(hostname="127.0.0.1", port=args.port, tls_context=tls, require_starttls=False)
    if args.user:
        options.update(authenticator=authenticate, auth_require_tls=True, auth_required=True)
    controller = TimedController(Sink(args.out), **options)
    controller.start()
    print(f"READY {args.port} {certificate}", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
