"""The fault tests' own stack: PostgreSQL and the Tansu broker started by deploy/local/stack.sh
on ports and in a directory of their own, the broker storing its topics in a local S3 endpoint
(moto) so that they survive a broker restart, and psql for reading every schema."""
import json
import os
import subprocess
import sys
import time
import urllib.request

from timing import log, wait_for


class Stack:
    def __init__(self, root, directory, pg_port, kafka_port, s3_port):
        self.root = root
        self.directory = directory
        self.pg_port = pg_port
        self.kafka_port = kafka_port
        self.s3_port = s3_port
        self.bucket = "passerelle-faults"
        self.s3 = None  # the moto server process
        # Memory storage until a scenario needs topics to outlive a broker restart: Tansu 0.6.0's
        # S3 storage loses acknowledged records when producers write one partition concurrently
        # (see FINDINGS.md), which the dead-letter topics and the poison records do.
        self.storage = "memory://tansu/"
        # Where the servers listen, and the network namespaces they run in (none: this one).
        self.pg_host = "127.0.0.1"
        self.kafka_host = "127.0.0.1"
        self.pg_netns = None
        self.kafka_netns = None

    @property
    def bootstrap(self):
        return f"{self.kafka_host}:{self.kafka_port}"

    def environment(self):
        """What stack.sh and the broker it starts read."""
        env = dict(os.environ)
        env.update({
            "PASSERELLE_LOCAL_DIR": self.directory,
            "PASSERELLE_PG_PORT": str(self.pg_port),
            "PASSERELLE_KAFKA_PORT": str(self.kafka_port),
            "PASSERELLE_TANSU_STORAGE": self.storage,
            "AWS_ENDPOINT": f"http://127.0.0.1:{self.s3_port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "faults",
            "AWS_SECRET_ACCESS_KEY": "faults",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PASSERELLE_PG_HOST": self.pg_host,
            "PASSERELLE_KAFKA_HOST": self.kafka_host,
            "PASSERELLE_PG_NETNS": self.pg_netns or "",
            "PASSERELLE_KAFKA_NETNS": self.kafka_netns or "",
        })
        return env

    def script(self, command, timeout=120):
        started = time.monotonic()
        result = subprocess.run(
            ["bash", os.path.join(self.root, "deploy/local/stack.sh"), command],
            env=self.environment(), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"stack.sh {command} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return time.monotonic() - started

    def start(self):
        """A fresh stack: whatever an earlier run left in the directory is removed first."""
        self.script("clean")
        os.makedirs(self.directory, exist_ok=True)
        self.script("start", timeout=180)
        log(f"stack ready: PostgreSQL {self.pg_host}:{self.pg_port}, broker {self.bootstrap} ({self.storage}), {self.directory}")

    def use_persistent_broker(self):
        """Replaces the broker by one keeping its topics in the local S3 endpoint (a fresh, empty
        broker: the services must be stopped around this)."""
        self.start_s3()
        self.storage = f"s3://{self.bucket}/"
        self.script("restart-broker")
        log(f"broker now stores its topics in {self.storage} on 127.0.0.1:{self.s3_port}")

    def start_s3(self):
        try:
            import moto.server  # noqa: F401  (only whether it is there)
        except ImportError as error:
            raise RuntimeError(f"moto's server is not installed ({error}): run deploy/local/install.sh (pip 'moto[server]')")
        with open(os.path.join(self.directory, "s3.log"), "w") as out:
            # The Python running the harness, so no PATH entry is needed; a session of its own, so
            # a Ctrl-C reaches the harness, which stops it.
            self.s3 = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

        def bucket_created():
            if self.s3.poll() is not None:
                raise RuntimeError(f"the S3 endpoint exited with {self.s3.returncode}; see {self.directory}/s3.log")
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{self.s3_port}/{self.bucket}", method="PUT")
                with urllib.request.urlopen(request, timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False
        wait_for(bucket_created, 30, "the S3 endpoint to take a bucket")

    def stop(self):
        try:
            self.script("stop")
        finally:
            if self.s3 is not None and self.s3.poll() is None:
                self.s3.terminate()
                try:
                    self.s3.wait(10)
                except subprocess.TimeoutExpired:
                    self.s3.kill()

    # -- faults ------------------------------------------------------------------------------

    def restart_broker(self, crash=False):
        """Stops the broker (SIGTERM, or SIGKILL when `crash`) and starts it again."""
        started = time.monotonic()
        if crash:
            with open(os.path.join(self.directory, "tansu.pid")) as file:
                pid = int(file.read().strip())
            os.kill(pid, 9)
            wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z", 10, "the broker to die")
        self.script("restart-broker")
        return time.monotonic() - started

    def stop_postgres(self):
        return self.script("stop-postgres")

    def start_postgres(self):
        return self.script("start", timeout=120)

    # -- reading the schemas -----------------------------------------------------------------

    def sql(self, statement, timeout=60):
        env = dict(os.environ, PGPASSWORD="postgres", PGCONNECT_TIMEOUT="5")
        result = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pg_host, "-p", str(self.pg_port), "-U", "postgres",
             "-d", "passerelle", "-tA", "-f", "-"],
            input=statement, env=env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()} in {statement[:300]}")
        return result.stdout.strip()

    def rows(self, query):
        """The rows of a query as dictionaries (one JSON document from the server)."""
        text = self.sql(f"SELECT coalesce(json_agg(t), '[]'::json) FROM ({query}) t")
        return json.loads(text)

    def value(self, query):
        return json.loads(self.sql(f"SELECT to_json(({query}))"))
