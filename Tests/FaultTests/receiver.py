"""The link workers' webhook endpoint: every delivery is verified with the Standard Webhooks
reference library and recorded by its webhook-id (the notification id), repeats included."""
import base64
import json
import os
import threading
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
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    webhook.verify(body, dict(self.headers))
                    json.loads(body)
                except Exception as error:  # the library raises WebhookVerificationError
                    with receiver.lock:
                        receiver.rejected.append({"path": self.path, "error": str(error)})
                    return self.answer(401, str(error).encode())
                identifier = self.headers["webhook-id"].lower()
                with receiver.lock:
                    receiver.arrivals[identifier] = receiver.arrivals.get(identifier, 0) + 1
                    receiver.paths[identifier] = self.path
                self.answer(204)

        return Handler
