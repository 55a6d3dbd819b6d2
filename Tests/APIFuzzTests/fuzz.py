#!/usr/bin/env python3
"""Runs schemathesis against every service's served OpenAPI document.

Each service runs from its built executable on a schema and topic prefix of its own, on the
PostgreSQL and broker the environment names (deploy/local/stack.sh env), and is fuzzed with
every check schemathesis has (server errors, responses that break their schema, schema-valid
requests rejected, schema-invalid requests accepted, undeclared methods not answered 405,
operations that ignore authentication) in its examples, coverage, fuzzing and stateful phases.
The caller's token holds every role, so each operation is reachable.

    fuzz.py --bin "$(swift build --show-bin-path)" [--services intake,matching] [--max-examples 20]

Exits 1 if schemathesis found anything in any service; its reports are under --report-dir.
"""

import argparse
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

SERVICES = ["intake", "matching", "notification", "evaluation"]
# Every role at once, network-wide (so no site claim: the services refuse a network-wide role with
# one), so that no operation is refused for its role and every schema-valid request reaches its
# handler. Site and owner scoping are the access matrix's to test (Tests/EndToEndTests).
ROLES = ["referrer", "link-worker", "coordinator", "network-coordinator", "analyst", "service", "ehr-integration"]
SECRET = "api-fuzz-tests-secret-0123456789-abcdefgh"


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def database_credentials():
    url = urllib.parse.urlparse(os.environ.get("PASSERELLE_TEST_DB_URL", "postgresql://postgres:postgres@127.0.0.1:55432/passerelle"))
    return url.username or "postgres", url.password or "postgres"


def environment(service, port, run_id):
    user, password = database_credentials()
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LD_LIBRARY_PATH", "TZ")}
    env.update({
        "PASSERELLE_HTTP_HOST": "127.0.0.1",
        "PASSERELLE_HTTP_PORT": str(port),
        "PASSERELLE_DB_HOST": os.environ.get("PASSERELLE_DB_HOST", "127.0.0.1"),
        "PASSERELLE_DB_PORT": os.environ.get("PASSERELLE_DB_PORT", "55432"),
        "PASSERELLE_DB_NAME": os.environ.get("PASSERELLE_DB_NAME", "passerelle"),
        "PASSERELLE_DB_USER": user,
        "PASSERELLE_DB_PASSWORD": password,
        "PASSERELLE_DB_SSLMODE": "disable",
        "PASSERELLE_DB_SCHEMA": f"fuzz_{service}_{run_id}",
        "PASSERELLE_TOPIC_PREFIX": f"fuzz-{run_id}.",
        "PASSERELLE_MIGRATE_ON_START": "true",
        "PASSERELLE_KAFKA_BOOTSTRAP": os.environ.get("PASSERELLE_KAFKA_BOOTSTRAP", "127.0.0.1:59092"),
        "PASSERELLE_JWT_HS256_SECRET": SECRET,
        "PASSERELLE_JWT_ISSUER": "passerelle-api-fuzz",
        "PASSERELLE_JWT_AUDIENCE": "passerelle",
        "PASSERELLE_LOG_LEVEL": "warning",
        "PASSERELLE_EVALUATION_PSEUDONYM_KEY": "api-fuzz-pseudonym-key-0123456789-abcdefgh",
        # A ServiceRequest without performer from a sender whose token names no site goes here.
        "PASSERELLE_FHIR_DEFAULT_ORGANIZATION": "ottawa-west-chc",
    })
    return env


def wait_ready(port, process, timeout=90):
    """Until /health/ready answers 200: migrated, connected, consumers in their groups."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def token(binary, env):
    # Development tokens come from deploy/local/dev-token.py: no service executable signs any.
    signer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "local", "dev-token.py")
    arguments = [sys.executable, signer, "--i-know-this-is-development", "--subject", "api-fuzz", "--minutes", "120"]
    for role in ROLES:
        arguments += ["--role", role]
    return subprocess.run(arguments, env=env, check=True, capture_output=True, text=True).stdout.strip()


def fuzz(service, args, run_id, report_dir):
    binary = os.path.join(args.bin, f"passerelle-{service}")
    port = free_port()
    env = environment(service, port, run_id)
    log_path = report_dir / f"{service}.log"
    with open(log_path, "w") as log:
        # As a deployment does (the compose file's create-topics job): the topics exist before any
        # service publishes to them.
        subprocess.run([binary, "create-topics"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
        process = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_ready(port, process):
            print(f"[fuzz] {service} did not start; see {log_path}", file=sys.stderr)
            return False
        bearer = token(binary, env)
        # A service's own settings (e.g. an operation whose rule depends on stored state, with the
        # reason) live in config/<service>.toml.
        config = pathlib.Path(__file__).resolve().parent / "config" / f"{service}.toml"
        command = ["st"] + (["--config-file", str(config)] if config.exists() else []) + [
            "run", f"http://127.0.0.1:{port}/openapi.json",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--max-examples", str(args.max_examples),
            "--seed", str(args.seed),
            "--workers", "1",
            "--request-timeout", "20",
            "--header", f"Authorization: Bearer {bearer}",
            "--report", "junit",
            "--report-junit-path", str(report_dir / f"{service}.junit.xml"),
            "--output-truncate", "true",
        ]
        started = time.monotonic()
        result = subprocess.run(command)
        print(f"[fuzz] {service}: schemathesis exited {result.returncode} after {time.monotonic() - started:.0f} s", file=sys.stderr)
        return result.returncode == 0
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def drop_schemas(run_id):
    user, password = database_credentials()
    env = dict(os.environ, PGPASSWORD=password)
    statements = "".join(f"DROP SCHEMA IF EXISTS fuzz_{service}_{run_id} CASCADE;" for service in SERVICES)
    subprocess.run(
        ["psql", "-h", os.environ.get("PASSERELLE_DB_HOST", "127.0.0.1"), "-p", os.environ.get("PASSERELLE_DB_PORT", "55432"),
         "-U", user, "-d", os.environ.get("PASSERELLE_DB_NAME", "passerelle"), "-qc", statements],
        env=env, capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory of the built passerelle-* executables")
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("PASSERELLE_FUZZ_EXAMPLES", "20")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("PASSERELLE_FUZZ_SEED", "20261207")))
    parser.add_argument("--report-dir", default=os.environ.get("PASSERELLE_FUZZ_REPORTS", "/tmp/passerelle-api-fuzz"))
    args = parser.parse_args()
    if shutil.which("st") is None:
        sys.exit("schemathesis is not installed (python3 -m pip install schemathesis)")
    report_dir = pathlib.Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:8]
    failed = []
    try:
        for service in args.services.split(","):
            if not fuzz(service, args, run_id, report_dir):
                failed.append(service)
    finally:
        drop_schemas(run_id)
    if failed:
        print(f"[fuzz] schemathesis found problems in: {', '.join(failed)} (reports in {report_dir})", file=sys.stderr)
        return 1
    print("[fuzz] schemathesis found nothing in " + args.services, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
