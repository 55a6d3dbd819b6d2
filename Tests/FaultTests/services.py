"""The four service executables as child processes on 127.0.0.1, started, killed, restarted, and
supervised as an orchestrator would (docker compose `restart: unless-stopped`, a Kubernetes
Deployment): a service that ends without being asked to is started again, and every such restart
is recorded with the exit status and the last log line that says "fatal"."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from timing import WaitTimeout, elapsed, log, wait_for

# Below Linux's ephemeral range (32768–60999): a port in it can be held for minutes as the local
# end of some other program's connection, and a service restarted on it then fails to bind.
BASE_PORTS = {"intake": 28181, "matching": 28182, "notification": 28183, "evaluation": 28184}
# Matching's extra replicas (the scale scenario): the first's port, the next ones following it;
# None: 100 above matching's for the second replica, 200 for the third.
REPLICA_PORT = None


class ServiceProcess:
    """One running executable; `name` is the service, `replica` tells matching's extra copies apart."""

    def __init__(self, fleet, service, port, replica=1):
        self.fleet = fleet
        self.service = service
        self.port = port
        self.replica = replica
        self.process = None
        self.starts = 0
        # Held while the harness starts or stops this process, so the supervisor never restarts
        # one the harness is stopping on purpose.
        self.lock = threading.RLock()
        self.wanted = False      # the harness wants it running: an exit it did not ask for is restarted
        self.started_at = None   # monotonic
        self.ended_seen = None   # when the supervisor first saw this start's process ended
        self.log_offset = 0      # where this start's lines begin in the log file

    @property
    def log_path(self):
        return os.path.join(self.fleet.log_dir, f"{self.label}.log")

    @property
    def label(self):
        return self.service if self.replica == 1 else f"{self.service}-{self.replica}"

    @property
    def url(self):
        return f"http://{self.fleet.host(self.service)}:{self.port}"

    def start(self):
        with self.lock:
            self.starts += 1
            with open(self.log_path, "a") as out:
                out.write(f"---- start {self.starts} ----\n")
                out.flush()
                self.log_offset = out.tell()
                env = self.fleet.environment(self.service, self.port)
                # A session of its own: a Ctrl-C at the terminal reaches the harness, which stops
                # the services itself, and not the services behind its back.
                command = self.fleet.command_prefix(self.service) + [os.path.join(self.fleet.bin_dir, f"passerelle-{self.service}"), "serve"]
                self.process = subprocess.Popen(command,
                                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)
            self.started_at = time.monotonic()
            self.ended_seen = None
            self.wanted = True

    def last_fatal_line(self):
        """(whether a line of the current start's log mentions "fatal", the last such line or else
        the last line)."""
        try:
            with open(self.log_path, errors="replace") as file:
                file.seek(self.log_offset)
                lines = [line.strip() for line in file if line.strip()]
        except OSError as error:
            return False, f"(log not readable: {error})"
        fatal = [line for line in lines if "fatal" in line.lower()]
        if fatal:
            return True, fatal[-1][:400]
        return False, "(no line mentions fatal; last line: " + (lines[-1][:300] if lines else "none") + ")"

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def ready(self):
        return http_status(self.url + "/health/ready") == 200

    def readiness(self):
        """(status, body) of /health/ready: the body as JSON ({} if it is not), None when nothing answered."""
        try:
            with urllib.request.urlopen(self.url + "/health/ready", timeout=3) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"{}")
            except ValueError:
                return error.code, {}
        except OSError:
            return None, {}

    def wait_ready(self, timeout=60):
        def check():
            if not self.running:
                if self.wanted and self.fleet.supervising:
                    return False  # the supervisor starts it again
                raise RuntimeError(f"{self.label} exited with {self.process.returncode}; see {self.log_path}")
            return self.ready()
        started = time.monotonic()
        try:
            wait_for(check, timeout, f"{self.label} to be ready", interval=0.2)
        except WaitTimeout as timeout_error:
            raise WaitTimeout(f"{timeout_error}; /health/ready answers {self.readiness()}") from None
        return time.monotonic() - started

    def kill(self):
        """SIGKILL: no shutdown work at all, the crash every guarantee is written against."""
        with self.lock:
            self.wanted = False
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout=30):
        """SIGTERM, the graceful shutdown; returns whether it ended in time (else it is killed)."""
        with self.lock:
            self.wanted = False
            if not self.running:
                return True
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                self.kill()
                return False

    def metric(self, name):
        """The sum of a Prometheus counter over its labels, from /metrics (None when unreachable)."""
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total


def http_status(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


class Restart:
    """A service that ended without being asked to, and was started again."""

    def __init__(self, member, status, said_fatal, fatal_line):
        self.label = member.label
        self.service = member.service
        self.status = status            # the exit status; negative: the signal that ended it
        self.said_fatal = said_fatal    # whether its log says "fatal"
        self.fatal_line = fatal_line
        self.at = elapsed()             # seconds into the run
        self.wall = time.time()         # for comparing with the schemas' timestamps
        self.ran_for = (member.ended_seen or time.monotonic()) - member.started_at

    @property
    def ending(self):
        return f"signal {-self.status}" if self.status < 0 else f"exit status {self.status}"

    def describe(self):
        return f"{self.label} ended after {self.ran_for:.0f}s with {self.ending} at {self.at:.0f}s; last log line saying fatal: {self.fatal_line}"


class Fleet:
    """The services of one run: their settings, processes, logs and supervision."""

    def __init__(self, bin_dir, stack, log_dir, jwt_secret, smtp_port=None, sms_url=None, pseudonym_key=None):
        self.bin_dir = bin_dir
        self.smtp_port = smtp_port  # the harness's SMTP relay, if any
        self.sms_url = sms_url  # the SMS gateway clients are told through (the harness's receiver), if any
        # Evaluation's analyst stream is on with a key (off without one, as in a deployment).
        self.pseudonym_key = pseudonym_key
        self.stack = stack
        self.log_dir = log_dir
        self.jwt_secret = jwt_secret
        self.members = {name: ServiceProcess(self, name, port) for name, port in BASE_PORTS.items()}
        self.replicas = []
        self.restarts = []  # Restart, in order
        self.supervising = False
        self.closing = threading.Event()
        self.supervisor = threading.Thread(target=self.supervise, daemon=True, name="supervisor")

    def host(self, service):
        """The address a service listens on (the network fault tests give each one of its own)."""
        return "127.0.0.1"

    def command_prefix(self, service):
        """What a service's command runs under (`ip netns exec …` in the network fault tests)."""
        return []

    def environment(self, service, port):
        env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LD_LIBRARY_PATH", "TZ")}
        env.update({
            "PASSERELLE_HTTP_HOST": self.host(service),
            "PASSERELLE_HTTP_PORT": str(port),
            "PASSERELLE_DB_HOST": self.stack.pg_host,
            "PASSERELLE_DB_PORT": str(self.stack.pg_port),
            "PASSERELLE_DB_NAME": "passerelle",
            "PASSERELLE_DB_SSLMODE": "disable",
            "PASSERELLE_KAFKA_BOOTSTRAP": self.stack.bootstrap,
            "PASSERELLE_JWT_HS256_SECRET": self.jwt_secret,
            "PASSERELLE_JWT_ISSUER": "passerelle-fault-tests",
            "PASSERELLE_JWT_AUDIENCE": "passerelle",
            "PASSERELLE_LOG_LEVEL": "warning",
            # Short group timeouts, so a killed member's partitions move on within seconds (the
            # broker holds a JoinGroup for the rebalance timeout, max.poll.interval.ms).
            "PASSERELLE_KAFKA_PROPERTY_SESSION_TIMEOUT_MS": "6000",
            "PASSERELLE_KAFKA_PROPERTY_MAX_POLL_INTERVAL_MS": "10000",
            # Link workers are told at any hour; the webhook receiver listens on loopback.
            "PASSERELLE_NOTIFICATION_QUIET_HOURS": "none",
            "PASSERELLE_NOTIFICATION_RETRY_BASE_MS": "500",
            "PASSERELLE_NOTIFICATION_RETRY_MAX_MS": "5000",
            "PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS": "true",
            # The reconciliation reads the outbox rows back: nothing is purged during a run.
            "PASSERELLE_OUTBOX_RETENTION_HOURS": "720",
            # Short enough that a receiver hanging past it (the peers scenario) costs a round a
            # few seconds, not fifteen.
            "PASSERELLE_NOTIFICATION_HTTP_TIMEOUT_SECONDS": "3",
            # A notification whose sender was killed waits out the lease before another round
            # takes it: 15 s instead of 60 lets `kill` settle sooner (renewed while sending).
            "PASSERELLE_NOTIFICATION_LEASE_SECONDS": "15",
        })
        if self.sms_url:
            env["PASSERELLE_SMS_GATEWAY_URL"] = self.sms_url
        if self.pseudonym_key:
            env["PASSERELLE_EVALUATION_PSEUDONYM_KEY"] = self.pseudonym_key
        if self.smtp_port:
            env.update({
                "PASSERELLE_SMTP_HOST": "127.0.0.1", "PASSERELLE_SMTP_PORT": str(self.smtp_port), "PASSERELLE_SMTP_SECURITY": "none",
                "PASSERELLE_SMTP_FROM": "passerelle@faults.example", "PASSERELLE_SMTP_TIMEOUT_SECONDS": "5",
            })
        return env

    def __getitem__(self, name):
        return self.members[name]

    def all(self):
        return list(self.members.values()) + self.replicas

    def start(self):
        os.makedirs(self.log_dir, exist_ok=True)
        for member in self.members.values():
            member.start()
        for member in self.members.values():
            member.wait_ready(90)
        log("services ready: " + ", ".join(f"{m.label} {m.url}" for m in self.members.values()))
        self.supervising = True
        self.supervisor.start()

    def supervise(self, interval=0.5):
        """Restarts every member that ended while the harness wanted it running. One that ends
        within 10 s of its start waits 2 s before the next, so a service that cannot start does
        not spin (the waits of the scenario bound how long that goes on)."""
        while not self.closing.wait(interval):
            for member in self.all():
                if not member.lock.acquire(blocking=False):
                    continue  # the harness is starting or stopping it
                try:
                    if not member.wanted or member.process is None or member.process.poll() is None or self.closing.is_set():
                        continue
                    now = time.monotonic()
                    if member.ended_seen is None:
                        member.ended_seen = now
                    if member.ended_seen - member.started_at < 10 and now - member.ended_seen < 2:
                        continue
                    restart = Restart(member, member.process.returncode, *member.last_fatal_line())
                    self.restarts.append(restart)
                    log(f"  supervisor: {restart.describe()}; starting it again")
                    member.start()
                finally:
                    member.lock.release()

    def add_matching_replica(self):
        number = len(self.replicas) + 2
        port = BASE_PORTS["matching"] + 100 * (number - 1) if REPLICA_PORT is None else REPLICA_PORT + number - 2
        replica = ServiceProcess(self, "matching", port, replica=number)
        self.replicas.append(replica)
        replica.start()
        return replica

    def not_ready(self):
        """Members that should run and do not answer ready, including one that ended and waits for
        the supervisor."""
        return [label for label, _ in self.not_ready_readiness()]

    def not_ready_readiness(self):
        """(label, what /health/ready answers) of each member not ready: one probe each."""
        found = []
        for member in self.all():
            if not member.running:
                if member.wanted:
                    found.append((member.label, "not running"))
                continue
            status, body = member.readiness()
            if status != 200:
                found.append((member.label, (status, body)))
        return found

    def stop(self):
        """Stops every member (SIGTERM); the supervisor leaves them stopped."""
        for member in self.all():
            if member.running:
                member.terminate(20)

    def close(self):
        """At the end of the run: no more restarts, every member stopped."""
        self.closing.set()
        if self.supervisor.is_alive():
            self.supervisor.join(5)
        self.supervising = False
        self.stop()

    def run_command(self, service, arguments, timeout=120):
        env = self.environment(service, 0)
        result = subprocess.run([os.path.join(self.bin_dir, f"passerelle-{service}")] + arguments, env=env,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"passerelle-{service} {' '.join(arguments)} failed: {result.stdout[-1000:]} {result.stderr[-1000:]}")
        return result.stdout

    def token(self, service, arguments, timeout=30):
        """A development bearer token from deploy/local/dev-token.py, signed with the key `service` runs with."""
        env = self.environment(service, 0)
        signer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "local", "dev-token.py")
        result = subprocess.run([sys.executable, signer, "--i-know-this-is-development"] + arguments, env=env,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"dev-token.py {' '.join(arguments)} failed: {result.stderr[-1000:]}")
        return result.stdout
