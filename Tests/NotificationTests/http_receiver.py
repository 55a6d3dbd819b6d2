"""A local HTTP receiver for the notification tests: a partner's webhook endpoint and an SMS
gateway. Webhooks are verified with the `standardwebhooks` reference library (signature and a
5-minute timestamp tolerance) and a repeated webhook-id is acknowledged but not processed again.
`?fail=N` makes the first N requests to a path answer 503; `/gone` answers 410.
GET /records returns what was received. Prints "READY <port>" and runs until stdin closes."""
import argparse, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
records, seen, failures = [], set(), {}


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
                failures[url.path] = failures.get(url.path, 0) + 1
                attempt = failures[url.path]
            if attempt <= fail:
                return self.answer(503, b"try later")
            if url.path.endswith("/gone"):
                return self.answer(410, b"gone")
            record = {"path": url.path, "attempt": attempt, "body": json.loads(body)}
            if url.path.startswith("/webhook"):
                try:
                    webhook.verify(body, dict(self.headers))
                except Exception as error:  # the library raises WebhookVerificationError
                    return self.answer(401, str(error).encode())
                record["id"] = self.headers["webhook-id"]
            else:
                record["id"] = self.headers.get("Idempotency-Key")
                record["authorization"] = self.headers.get("Authorization")
            with lock:
                record["duplicate"] = record["id"] in seen
                seen.add(record["id"])
                records.append(record)
            self.answer(200 if url.path.startswith("/sms") else 204)

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
