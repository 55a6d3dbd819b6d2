"""A local receiver of Passerelle's outbound HTTP for the tests: a partner's webhook endpoint, an
EHR's FHIR subscription rest-hook, an SMS gateway. Every delivery is verified with the
`standardwebhooks` reference library (signature and a 5-minute timestamp tolerance) except on
paths under an `--unsigned` prefix (the SMS gateway, which goes by its Idempotency-Key). A bad
signature is answered 401 and recorded with "verified": false; a repeated id is acknowledged and
recorded with "duplicate": true. `?fail=N` makes the first N requests to a path answer 503 (or
`&status=S`, with `&retryAfter=V` in a Retry-After header: seconds, or `date:N` for an HTTP-date N
seconds ahead); `?hang=S` holds the first request of a path S seconds without answering (`&stall=1`:
after sending a 200's head, the body never comes); `?drop=N` closes the first N requests'
connections without an answer, after reading them. Every request is also noted, with its outcome
and when the sender hung up on a hanging one, at GET /attempts. A path ending in /gone answers 410, one ending in /redirect answers 307 to /followed (which a sender
must not follow), one ending in /leaky answers 500 with a body and a long, unprintable reason
(which a sender must not keep). GET /records returns what was received. Prints "READY <port>" and
runs until stdin closes."""
import argparse, json, select, sys, threading, time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

from standardwebhooks.webhooks import Webhook

lock = threading.Lock()
records, seen, attempts, noted = [], set(), {}, []


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
                body = json.dumps(noted if self.path == "/attempts" else records).encode()
            self.answer(200, body)

        def note(self, path, attempt, outcome, **more):
            with lock:
                noted.append({"path": path, "attempt": attempt, "outcome": outcome, "at": time.time(),
                              "id": self.headers.get("webhook-id") or self.headers.get("Idempotency-Key"), **more})

        def hang(self, seconds):
            """Waits up to `seconds` without answering; returns how long until the sender hung up
            (None if it never did)."""
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable and not self.connection.recv(1, 2):  # MSG_PEEK: EOF, the sender closed
                    return time.monotonic() - started
            return None

        def do_POST(self):
            url = urlparse(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            query = parse_qs(url.query)
            fail = int(query.get("fail", ["0"])[0])
            with lock:
                attempts[url.path] = attempts.get(url.path, 0) + 1
                attempt = attempts[url.path]
            if attempt <= int(query.get("drop", ["0"])[0]):
                self.note(url.path, attempt, "dropped")
                self.close_connection = True
                return
            if "hang" in query and attempt == 1:
                if "stall" in query:
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.flush()
                closed = self.hang(float(query["hang"][0]))
                self.note(url.path, attempt, "stalled" if "stall" in query else "hung", closedAfter=closed)
                self.close_connection = True
                return
            if attempt <= fail:
                status = int(query.get("status", ["503"])[0])
                self.note(url.path, attempt, f"answered {status}")
                self.send_response(status)
                if "retryAfter" in query:
                    value = query["retryAfter"][0]
                    if value.startswith("date:"):
                        value = formatdate(time.time() + float(value[5:]), usegmt=True)
                    self.send_header("Retry-After", value)
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"try later")
                return
            self.note(url.path, attempt, "received")
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
