"""A local FHIR subscription endpoint for intake's tests: an EHR's rest-hook. Every notification
is verified with the `standardwebhooks` reference library (signature and a 5-minute timestamp
tolerance) before it is recorded; a bad signature is answered 401 and recorded as refused.
`?fail=N` makes the first N requests to a path answer 503; a path ending in /gone answers 410. GET /records returns what was
received. Prints "READY <port>" and runs until stdin closes."""
import argparse, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
records, attempts = [], {}


def handler_for(secret):
    webhook = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body=b""):
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with lock:
                body = json.dumps(records).encode()
            self.answer(200, body)

        def do_POST(self):
            url = urlparse(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            fail = int(parse_qs(url.query).get("fail", ["0"])[0])
            with lock:
                attempts[url.path] = attempts.get(url.path, 0) + 1
                attempt = attempts[url.path]
            if attempt <= fail:
                return self.answer(503, b"try later")
            if url.path.endswith("/gone"):
                return self.answer(410, b"gone")
            record = {"path": url.path, "attempt": attempt, "id": self.headers.get("webhook-id"),
                      "contentType": self.headers.get("Content-Type"), "authorization": self.headers.get("Authorization"),
                      "verified": True, "body": json.loads(body)}
            try:
                webhook.verify(body, dict(self.headers))
            except Exception:  # the library raises WebhookVerificationError
                record["verified"] = False
                with lock:
                    records.append(record)
                return self.answer(401, b"bad signature")
            with lock:
                records.append(record)
            self.answer(200)

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(args.secret))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {args.port}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
