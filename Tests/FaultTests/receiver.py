"""The link workers' webhook endpoint: every delivery is verified with the Standard Webhooks
reference library and recorded by its webhook-id (the notification id), repeats included.

`faults` (None: none) may make it misbehave: called with the worker's path, it answers None (take
the delivery), ("hang", seconds) (hold the request without answering, as a stuck receiver does;
the delivery may or may not have been taken: it is counted as arrived) or ("status", code,
retry_after) (answer that, with Retry-After when given). Every request is logged in `requests`
with its webhook-id, when it came, when it was answered or the sender hung up, and how."""
import base64
import json
import os
import select
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


class WebhookReceiver:
    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.lock = threading.Lock()
        self.arrivals = {}   # webhook-id -> number of deliveries that arrived
        self.paths = {}      # webhook-id -> path it came to (the link worker)
        self.rejected = []   # deliveries whose signature did not verify
        self.interrupted = []  # requests whose sender went away before the whole body came
        self.requests = []   # {"id", "path", "came", "ended", "outcome"} of every verified request
        self.faults = None
        self.server = ThreadingHTTPServer((host, 0), self.handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def start(self):
        self.thread.start()

    def stop(self):
        # shutdown() waits for serve_forever to notice; if it never started (the stack failed
        # first), that wait would never end.
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def snapshot(self):
        with self.lock:
            return dict(self.arrivals), dict(self.paths)

    def handler(self):
        receiver = self
        webhook = Webhook(self.secret)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, code, body=b""):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-request (notification killed while it sent): no
                    # delivery, nothing to verify; it is sent again under the same id.
                    with receiver.lock:
                        receiver.interrupted.append({"path": self.path, "received": len(body), "of": length})
                    self.close_connection = True
                    return
                if self.path.split("?", 1)[0] == "/sms":
                    return self.sms(body)
                try:
                    webhook.verify(body, dict(self.headers))
                    json.loads(body)
                except Exception as error:  # the library raises WebhookVerificationError
                    with receiver.lock:
                        receiver.rejected.append({"path": self.path, "error": str(error)})
                    return self.answer(401, str(error).encode())
                identifier = self.headers["webhook-id"].lower()
                path = self.path.split("?", 1)[0]
                came = time.time()
                fault = receiver.faults(path) if receiver.faults else None
                request = {"id": identifier, "path": path, "came": came, "ended": None, "outcome": "204"}
                if fault is None or fault[0] == "hang":
                    with receiver.lock:
                        receiver.arrivals[identifier] = receiver.arrivals.get(identifier, 0) + 1
                        receiver.paths[identifier] = path
                if fault is not None and fault[0] == "hang":
                    request["outcome"] = "hung"
                    request["sender hung up after"] = self.hang(fault[1])
                    self.close_connection = True
                elif fault is not None:
                    _, code, retry_after = fault
                    request["outcome"] = str(code)
                    self.send_response(code)
                    if retry_after is not None:
                        self.send_header("Retry-After", str(retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.answer(204)
                request["ended"] = time.time()
                with receiver.lock:
                    receiver.requests.append(request)

            def sms(self, body):
                """The SMS gateway clients are told through: a JSON {id, to, body} under an
                Idempotency-Key (the notification id), counted by that id like a webhook."""
                try:
                    identifier = json.loads(body)["id"].lower()
                except (ValueError, KeyError, AttributeError) as error:
                    with receiver.lock:
                        receiver.rejected.append({"path": "/sms", "error": f"not an SMS request: {error}"})
                    return self.answer(400)
                if (self.headers.get("Idempotency-Key") or "").lower() != identifier:
                    with receiver.lock:
                        receiver.rejected.append({"path": "/sms", "error": f"Idempotency-Key {self.headers.get('Idempotency-Key')} is not the id {identifier}"})
                    return self.answer(400)
                with receiver.lock:
                    receiver.arrivals[identifier] = receiver.arrivals.get(identifier, 0) + 1
                    receiver.paths[identifier] = "/sms"
                    receiver.requests.append({"id": identifier, "path": "/sms", "came": time.time(), "ended": time.time(), "outcome": "202"})
                self.answer(202)

            def hang(self, seconds):
                """Holds the request up to `seconds`; returns how long until the sender hung up
                (None if it did not)."""
                started = time.monotonic()
                while time.monotonic() - started < seconds:
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and not self.connection.recv(1, 2):  # MSG_PEEK at end of stream: closed
                        return round(time.monotonic() - started, 2)
                return None

        return Handler
