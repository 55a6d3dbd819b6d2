"""Drives the console benchmark: starts intake, matching, notification, the development identity
provider and the console (each service on a schema and topic prefix of its own, on the PostgreSQL
and broker of deploy/local/stack.sh env), seeds one site with open referrals through intake,
signs a link worker in through the provider (authorization code with PKCE, as a browser does),
accepts one referral and writes its casework, then times the caseload and that referral's page
one request after another. Talks to 127.0.0.1 only; stops by itself and drops its schemas.
Prints one line:
  RESULT referrals=… requests=… caseload_p50_ms=… caseload_p95_ms=… caseload_max_ms=… referral_p50_ms=… referral_p95_ms=… referral_max_ms=…

    console_load.py --bin "$(swift build --show-bin-path)" [--referrals 2000] [--requests 200]"""
import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "console-bench-secret-0123456789-abcdef-0123456789"
SITE = "ottawa-west-chc"
LINK_WORKER = "amelie.roy"  # a link worker of SITE in the provider's demo users
SERVICES = ["intake", "matching", "notification"]


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def environment(port, schema, run_id, idp_url):
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LD_LIBRARY_PATH", "TZ")}
    env.update({
        "PASSERELLE_HTTP_HOST": "127.0.0.1", "PASSERELLE_HTTP_PORT": str(port),
        "PASSERELLE_DB_HOST": os.environ.get("PASSERELLE_DB_HOST", "127.0.0.1"), "PASSERELLE_DB_PORT": os.environ.get("PASSERELLE_DB_PORT", "55432"),
        "PASSERELLE_DB_NAME": os.environ.get("PASSERELLE_DB_NAME", "passerelle"), "PASSERELLE_DB_USER": "postgres", "PASSERELLE_DB_PASSWORD": "postgres",
        "PASSERELLE_DB_SSLMODE": "disable", "PASSERELLE_DB_SCHEMA": schema, "PASSERELLE_TOPIC_PREFIX": f"console-bench-{run_id}.",
        "PASSERELLE_MIGRATE_ON_START": "true", "PASSERELLE_KAFKA_BOOTSTRAP": os.environ.get("PASSERELLE_KAFKA_BOOTSTRAP", "127.0.0.1:59092"),
        "PASSERELLE_ALLOW_DEV_SECRET": "true", "PASSERELLE_JWT_HS256_SECRET": SECRET, "PASSERELLE_OIDC_DISCOVERY_URL": idp_url,
        "PASSERELLE_OIDC_AUDIENCE": "passerelle", "PASSERELLE_OIDC_ROLES_CLAIM": "realm_access.roles", "PASSERELLE_OIDC_SITE_CLAIM": "site",
        "PASSERELLE_LOG_LEVEL": "warning", "PASSERELLE_MATCHING_POSTAL_AREAS": str(ROOT / "deploy" / "matching" / "postal-areas.csv"),
    })
    return env


def request(port, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def wait_ready(url, process, timeout=120):
    parsed = urllib.parse.urlparse(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if request(parsed.port, "GET", parsed.path)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def seed(intake_port, count):
    """`count` referrals at SITE through intake, as their referrers send them (a tenth urgent)."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    signer = __import__("dev-token")
    template = json.loads((ROOT / "deploy" / "demo" / "referrals" / "amina-newcomer.json").read_text(encoding="utf-8"))
    template["site"] = SITE
    token = signer.token(template["referrer"]["id"], ["referrer"], SITE, minutes=120, environ={"PASSERELLE_JWT_HS256_SECRET": SECRET})

    def send(index):
        body = dict(template, priority="urgent" if index % 10 == 0 else "routine")
        status, _, answer = request(intake_port, "POST", "/v1/referrals", {
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}, json.dumps(body))
        if status != 201:
            raise SystemExit(f"intake refused a referral: {status} {answer[:300]}")
        return json.loads(answer)["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(count)))


def cookies_of(headers):
    found = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            key, _, val = pair.partition("=")
            found[key] = val
    return found


def sign_in(console_port, idp_port):
    """The authorization code flow a browser goes through: console → provider → console."""
    status, headers, _ = request(console_port, "GET", "/sign-in?return=/")
    location = dict(headers).get("Location", "")
    jar = cookies_of(headers)
    if status not in (302, 303) or "/authorize" not in location:
        raise SystemExit(f"the console did not send the browser to the provider ({status} {location})")
    query = urllib.parse.urlparse(location).query
    status, headers, body = request(idp_port, "POST", "/authorize", {"Content-Type": "application/x-www-form-urlencoded"},
                                    query + "&" + urllib.parse.urlencode({"username": LINK_WORKER, "password": "demo"}))
    callback = urllib.parse.urlparse(dict(headers).get("Location", ""))
    if status not in (302, 303) or not callback.path.endswith("/auth/callback"):
        raise SystemExit(f"the provider did not sign the link worker in ({status} {body[:200]})")
    status, headers, _ = request(console_port, "GET", f"{callback.path}?{callback.query}", {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
    jar.update(cookies_of(headers))
    if "passerelle-session" not in jar or not jar["passerelle-session"]:
        raise SystemExit(f"the console opened no session ({status})")
    return f"passerelle-session={jar['passerelle-session']}"


def casework(console_port, cookie, referral):
    """The referral made the link worker's with some casework, as a referral page usually is."""
    path = f"/referrals/{referral}"
    status, _, page = request(console_port, "GET", path, {"Cookie": cookie})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    if status != 200 or not csrf:
        raise SystemExit(f"the referral page did not open ({status})")
    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    for target, fields in (("/transitions", {"action": "accept"}), ("/contacts", {"mode": "phone", "minutes": "12", "party": "client", "reached": "yes"}),
                           ("/notes", {"body": "Premier appel : la personne souhaite sortir davantage."}),
                           ("/plan", {"whatMatters": "Retrouver des activités en groupe près de chez elle."})):
        status, _, _ = request(console_port, "POST", path + target, form, urllib.parse.urlencode(dict(fields, csrf=csrf.group(1), key=str(uuid.uuid4()))))
        if status not in (302, 303):
            raise SystemExit(f"{target} was refused ({status})")
    return path


def timed(console_port, path, cookie, count):
    for _ in range(10):  # warm-up: connections to the services and PostgreSQL opened, caches filled
        request(console_port, "GET", path, {"Cookie": cookie})
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        status, _, _ = request(console_port, "GET", path, {"Cookie": cookie})
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"{path} answered {status}")
    timings.sort()
    pick = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]
    return pick(0.5), pick(0.95), timings[-1]


def drop_schemas(run_id):
    statements = "; ".join(f"DROP SCHEMA IF EXISTS console_bench_{name}_{run_id} CASCADE" for name in SERVICES + ["console"])
    subprocess.run(["psql", "-h", os.environ.get("PASSERELLE_DB_HOST", "127.0.0.1"), "-p", os.environ.get("PASSERELLE_DB_PORT", "55432"),
                    "-U", "postgres", "-d", os.environ.get("PASSERELLE_DB_NAME", "passerelle"), "-qc", statements],
                   env=dict(os.environ, PGPASSWORD="postgres"), check=False, capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="where passerelle-* were built")
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--logs", default=tempfile.gettempdir(), help="where the processes' logs go")
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    logs = pathlib.Path(args.logs)
    processes = []
    try:
        console_port, idp_port = free_port(), free_port()
        idp_url = f"http://127.0.0.1:{idp_port}"
        idp = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy" / "local" / "dev-identity-provider.py"), "--port", str(idp_port), "--minutes", "120",
             "--redirect-uri", f"http://127.0.0.1:{console_port}/auth/callback"],
            env=dict(os.environ, PASSERELLE_ALLOW_DEV_SECRET="true"), stdout=open(logs / "console-bench-idp.log", "w"), stderr=subprocess.STDOUT)
        processes.append(idp)
        ports = {}
        for service in SERVICES:
            ports[service] = free_port()
            env = environment(ports[service], f"console_bench_{service}_{run_id}", run_id, idp_url)
            binary = os.path.join(args.bin, f"passerelle-{service}")
            log = open(logs / f"console-bench-{service}.log", "w")
            if service == SERVICES[0]:
                subprocess.run([binary, "create-topics"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
            processes.append(subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT))
        env = environment(console_port, f"console_bench_console_{run_id}", run_id, idp_url)
        env.update({"PASSERELLE_CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{console_port}",
                    **{f"PASSERELLE_{s.upper()}_URL": f"http://127.0.0.1:{p}" for s, p in ports.items()}})
        console = subprocess.Popen([os.path.join(args.bin, "passerelle-console"), "serve"], env=env,
                                   stdout=open(logs / "console-bench-console.log", "w"), stderr=subprocess.STDOUT)
        processes.append(console)
        if not wait_ready(f"{idp_url}/.well-known/openid-configuration", idp):
            raise SystemExit("the identity provider did not start")
        for index, service in enumerate(SERVICES):
            if not wait_ready(f"http://127.0.0.1:{ports[service]}/health/ready", processes[1 + index]):
                raise SystemExit(f"{service} did not start; see {logs}/console-bench-{service}.log")
        if not wait_ready(f"http://127.0.0.1:{console_port}/health/ready", console):
            raise SystemExit(f"the console did not start; see {logs}/console-bench-console.log")
        started = time.monotonic()
        referrals = seed(ports["intake"], args.referrals)
        print(f"seeded {len(referrals)} referrals in {time.monotonic() - started:.0f} s", file=sys.stderr)
        cookie = sign_in(console_port, idp_port)
        path = casework(console_port, cookie, referrals[0])
        caseload = timed(console_port, "/", cookie, args.requests)
        page = timed(console_port, path, cookie, args.requests)
        print(f"RESULT referrals={len(referrals)} requests={args.requests} caseload_p50_ms={caseload[0]:.1f} caseload_p95_ms={caseload[1]:.1f} "
              f"caseload_max_ms={caseload[2]:.1f} referral_p50_ms={page[0]:.1f} referral_p95_ms={page[1]:.1f} referral_max_ms={page[2]:.1f}")
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_schemas(run_id)


if __name__ == "__main__":
    main()
