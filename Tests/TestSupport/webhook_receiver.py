"""A local receiver of Passerelle's outbound HTTP for the tests: a partner's webhook endpoint, an
EHR's FHIR subscription rest-hook, an SMS gateway. Every delivery is verified with the
`standardwebhooks` reference library (signature and a 5-minute timestamp tolerance) except on
paths under an `--unsigned` prefix (the SMS gateway, which goes by its Idempotency-Key). A bad
signature is answered 401 and recorded with "verified": false; a repeated id is acknowledged and
recorded with "duplicate": true. `?fail=N` makes the first N requests to a path answer 503; a path
ending in /gone answers 410, one ending in /redirect answers 307 to /followed (which a sender
must not follow), one ending in /leaky answers 500 with a body and a long, unprintable reason
(which a sender must not keep). GET /records returns what was received. Prints "READY <port>" and
runs until stdin closes."""
import argparse, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
records, seen, attempts = [], set(), {}


def handler_for(secret, unsigned):
    webhook = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body=b"", reason=None):
            self.send_response(code, reason)
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
            if url.path.endswith("/redirect") or url.path.endswith("/leaky"):
                with lock:
                    records.append({"path": url.path, "attempt": attempt, "host": self.headers.get("Host")})
                if url.path.endswith("/redirect"):
                    self.send_response(307)
                    self.send_header("Location", "/followed")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                return self.answer(500, b"leaked-body: the peer's internals", reason="Cass\xe9\t" + "x" * 300)
            signed = not any(url.path.startswith(prefix) for prefix in unsigned)
            record = {"path": url.path, "attempt": attempt, "host": self.headers.get("Host"), "contentType": self.headers.get("Content-Type"),
                      "authorization": self.headers.get("Authorization"), "verified": signed, "duplicate": False, "body": json.loads(body),
                      "id": self.headers.get("webhook-id" if signed else "Idempotency-Key")}
            if signed:
                try:
                    webhook.verify(body, dict(self.headers))
                except Exception as error:  # the library raises WebhookVerificationError
                    record["verified"] = False
                    with lock:
                        records.append(record)
                    return self.answer(401, str(error).encode())
            with lock:
                record["duplicate"] = record["id"] in seen
                seen.add(record["id"])
                records.append(record)
            self.answer(204 if signed else 200)

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--unsigned", action="append", default=[], metavar="PREFIX", help="paths not signed (an SMS gateway)")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(args.secret, args.unsigned))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {args.port}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
