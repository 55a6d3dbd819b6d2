#!/usr/bin/env python3
"""The local stack's outbox catcher: everything notification sends on this machine lands here
instead of reaching real people. It listens on 127.0.0.1 (--host to change it; the compose test's
SMTP catcher listens on the container's network):

  HTTP  POST /webhooks/<target>   signed webhooks (link workers, referrers, partners); the
                                  Standard Webhooks signature is checked when a secret is given
        POST /sms                 the SMS gateway protocol: JSON {id, to, body}
        GET  /messages            every message caught so far, as JSON lines
        GET  /api/v1/messages     the e-mail caught so far, shaped as Mailpit's API answers (total,
                                  messages with ID, To, Subject, Snippet), so a test reads either
        GET  /readyz              200 once listening, as Mailpit's
  SMTP  any message               e-mail to clients and staff (plain SMTP, no TLS, no login)

Each message is appended as one JSON line to --file, with the notification id it carries
(webhook-id, the SMS id, or the Message-ID's local part) so a reader can tie it to the
notification.sent event on the notifications topic.

    python3 deploy/local/inbox.py --file /var/tmp/passerelle-x/inbox/messages.jsonl \
        --http-port 8090 --smtp-port 8025 [--webhook-secret whsec_...]
"""
import argparse
import email
import email.policy
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Inbox:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def record(self, **message):
        message = {"receivedAt": time.time(), **message}
        line = json.dumps(message, ensure_ascii=False)
        with self.lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def read(self):
        with self.lock:
            try:
                with open(self.path, encoding="utf-8") as source:
                    return source.read()
            except FileNotFoundError:
                return ""

    def mailpit_messages(self):
        """The e-mail caught, newest first, in the shape of Mailpit's GET /api/v1/messages."""
        mail = [json.loads(line) for line in self.read().splitlines() if line.strip()]
        mail = [m for m in mail if m.get("channel") == "email"]
        mail.reverse()
        return {"total": len(mail), "messages_count": len(mail), "messages": [
            {"ID": m.get("id") or "", "To": [{"Name": "", "Address": a.strip()} for a in (m.get("to") or "").split(",") if a.strip()],
             "Subject": m.get("subject") or "", "Snippet": (m.get("text") or "")[:250]}
            for m in mail]}


def webhook_verifier(secret):
    """A Standard Webhooks verifier for the secret, or None when it cannot be checked here."""
    if not secret:
        return None
    try:
        from standardwebhooks.webhooks import Webhook
    except ImportError:
        print("[inbox] standardwebhooks is not installed: webhook signatures are not checked", file=sys.stderr)
        return None
    return Webhook(secret)


def http_handler(inbox, verifier):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body=b"", content_type="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/messages":
                return self.reply(200, inbox.read().encode(), "application/x-ndjson")
            if path == "/api/v1/messages":
                return self.reply(200, json.dumps(inbox.mailpit_messages(), ensure_ascii=False).encode())
            if path == "/readyz":
                return self.reply(200, b"", "text/plain")
            self.reply(404, b'{"error": "not found"}')

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                return self.reply(400, b'{"error": "expected JSON"}')
            path = self.path.split("?")[0]
            if path == "/sms":
                inbox.record(channel="sms", id=body.get("id"), to=body.get("to"), text=body.get("body"))
                return self.reply(202, json.dumps({"id": body.get("id"), "status": "queued"}).encode())
            if path.startswith("/webhooks/"):
                verified = None
                if verifier is not None:
                    try:
                        verifier.verify(raw, {name.lower(): value for name, value in self.headers.items()})
                        verified = True
                    except Exception as error:  # the verifier raises its own error types
                        print(f"[inbox] webhook signature refused: {error}", file=sys.stderr)
                        return self.reply(401, b'{"error": "bad signature"}')
                inbox.record(channel="webhook", id=self.headers.get("webhook-id"), to=path[len("/webhooks/"):],
                             template=body.get("template"), language=body.get("language"), subject=body.get("subject"),
                             text=body.get("text"), verified=verified)
                return self.reply(204, b"")
            self.reply(404, b'{"error": "not found"}')

    return Handler


def smtp_sink(inbox, host, port):
    """Starts an SMTP server on host:port (aiosmtpd, which install.sh installs)."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            message_id = (message.get("Message-ID") or "").strip("<>")
            part = message.get_body(preferencelist=("plain", "html"))
            inbox.record(channel="email", id=message_id.split("@")[0] or None, to=", ".join(envelope.rcpt_tos),
                         subject=str(message.get("Subject") or ""), text=part.get_content().strip() if part else "")
            return "250 OK"

    controller = Controller(Handler(), hostname=host, port=port)
    controller.start()
    return controller


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", required=True, help="where caught messages are appended, one JSON line each")
    parser.add_argument("--host", default="127.0.0.1", help="address both servers listen on")
    parser.add_argument("--http-port", type=int, default=8090)
    parser.add_argument("--smtp-port", type=int, default=8025, help="0 for no SMTP sink")
    parser.add_argument("--webhook-secret", default=os.environ.get("PASSERELLE_INBOX_WEBHOOK_SECRET"),
                        help="the webhook targets' secret (whsec_...), to check signatures")
    args = parser.parse_args()

    inbox = Inbox(args.file)
    server = ThreadingHTTPServer((args.host, args.http_port), http_handler(inbox, webhook_verifier(args.webhook_secret)))
    controller = smtp_sink(inbox, args.host, args.smtp_port) if args.smtp_port else None
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"[inbox] webhooks and SMS on http://{args.host}:{args.http_port}, SMTP on {args.host}:{args.smtp_port}, "
          f"messages in {args.file}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if controller:
            controller.stop()
        server.server_close()


if __name__ == "__main__":
    main()
