"""The four service executables as child processes on 127.0.0.1, started, killed, restarted."""
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from timing import log, wait_for

BASE_PORTS = {"intake": 58181, "matching": 58182, "notification": 58183, "evaluation": 58184}


class ServiceProcess:
    """One running executable; `name` is the service, `replica` tells matching's extra copies apart."""

    def __init__(self, fleet, service, port, replica=1):
        self.fleet = fleet
        self.service = service
        self.port = port
        self.replica = replica
        self.process = None
        self.starts = 0

    @property
    def label(self):
        return self.service if self.replica == 1 else f"{self.service}-{self.replica}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.starts += 1
        path = os.path.join(self.fleet.log_dir, f"{self.label}.log")
        out = open(path, "a")
        out.write(f"---- start {self.starts} ----\n")
        out.flush()
        env = self.fleet.environment(self.service, self.port)
        self.process = subprocess.Popen([os.path.join(self.fleet.bin_dir, f"passerelle-{self.service}"), "serve"],
                                        env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def ready(self):
        return http_status(self.url + "/health/ready") == 200

    def wait_ready(self, timeout=60):
        def check():
            if not self.running:
                raise RuntimeError(f"{self.label} exited with {self.process.returncode}; see {self.fleet.log_dir}/{self.label}.log")
            return self.ready()
        started = time.monotonic()
        wait_for(check, timeout, f"{self.label} to be ready", interval=0.2)
        return time.monotonic() - started

    def kill(self):
        """SIGKILL: no shutdown work at all, the crash every guarantee is written against."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout=30):
        """SIGTERM, the graceful shutdown; returns whether it ended in time (else it is killed)."""
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


class Fleet:
    """The services of one run: their settings, processes and logs."""

    def __init__(self, bin_dir, stack, log_dir, jwt_secret):
        self.bin_dir = bin_dir
        self.stack = stack
        self.log_dir = log_dir
        self.jwt_secret = jwt_secret
        self.members = {name: ServiceProcess(self, name, port) for name, port in BASE_PORTS.items()}
        self.replicas = []

    def environment(self, service, port):
        env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LD_LIBRARY_PATH", "TZ")}
        env.update({
            "PASSERELLE_HTTP_HOST": "127.0.0.1",
            "PASSERELLE_HTTP_PORT": str(port),
            "PASSERELLE_DB_HOST": "127.0.0.1",
            "PASSERELLE_DB_PORT": str(self.stack.pg_port),
            "PASSERELLE_DB_NAME": "passerelle",
            "PASSERELLE_DB_SSLMODE": "disable",
            "PASSERELLE_KAFKA_BOOTSTRAP": self.stack.bootstrap,
            "PASSERELLE_JWT_HS256_SECRET": self.jwt_secret,
            "PASSERELLE_LOG_LEVEL": "warning",
            # Short group timeouts, so a killed member's partitions move on within seconds (the
            # broker holds a JoinGroup for the rebalance timeout, max.poll.interval.ms).
            "PASSERELLE_KAFKA_PROPERTY_SESSION_TIMEOUT_MS": "6000",
            "PASSERELLE_KAFKA_PROPERTY_MAX_POLL_INTERVAL_MS": "10000",
            # Link workers are told at any hour; the webhook receiver listens on loopback.
            "PASSERELLE_NOTIFICATION_QUIET_HOURS": "none",
            "PASSERELLE_NOTIFICATION_RETRY_BASE_MS": "500",
            "PASSERELLE_NOTIFICATION_RETRY_MAX_MS": "5000",
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

    def add_matching_replica(self):
        number = len(self.replicas) + 2
        replica = ServiceProcess(self, "matching", BASE_PORTS["matching"] + 100 * (number - 1), replica=number)
        self.replicas.append(replica)
        replica.start()
        return replica

    def not_ready(self):
        return [member.label for member in self.all() if member.running and not member.ready()]

    def stop(self):
        for member in self.all():
            if member.running:
                member.terminate(20)

    def run_command(self, service, arguments, timeout=120):
        env = self.environment(service, 0)
        result = subprocess.run([os.path.join(self.bin_dir, f"passerelle-{service}")] + arguments, env=env,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"passerelle-{service} {' '.join(arguments)} failed: {result.stdout[-1000:]} {result.stderr[-1000:]}")
        return result.stdout
