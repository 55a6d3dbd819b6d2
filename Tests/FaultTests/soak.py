#!/usr/bin/env python3
"""A long run of the whole loop at a steady rate: the fault tests' stack, services and stream
(run_faults.py), with no fault, for --minutes (30 by default). Every --sample seconds it records
each service's resident memory, the rows of the tables that must not grow without bound (outbox,
processed events) and the error lines in the logs. At the end the loop is reconciled like a
fault scenario (0 lost, 0 doubled) and:

- each service's resident memory after the warm-up (--warm-up minutes) grows by less than 10 %
  (the median of the last three samples against the median of the first three after warm-up);
- the outbox tables and processed-event tables hold no more rows at the end than the purge
  rules allow (rows past their horizon are counted: there must be none);
- no service logged an error.

It is a separate command, not part of the test command (it runs for half an hour):

    python3 Tests/FaultTests/soak.py --bin .build/release [--minutes 30] [--rate 10] [--report FILE]

The report (markdown) goes to --report, by default Tests/FaultTests/results/soak.md. Exits 0 when
every check holds, 1 otherwise, 2 when it could not start."""
import argparse
import os
import re
import signal
import statistics
import sys
import threading
import time
from datetime import datetime, timezone

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ledger  # noqa: E402
import services  # noqa: E402
from run_faults import ROOT, Run  # noqa: E402
from stream import ReferralStream  # noqa: E402
from timing import log  # noqa: E402

SCHEMAS = ("intake", "matching", "notification", "evaluation")
# A log line the services write at error level or above (JSON or text logs).
ERROR_LINE = re.compile(r'("level"\s*:\s*"(error|critical)")|(^\S+\s+(error|critical)\s)')


def resident_kib(member):
    process = member.process
    if process is None or process.poll() is not None:
        return None
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def table_rows(stack):
    """Rows of the tables that purge rules bound, per schema: the outbox (all and published) and
    each processed-events table."""
    rows = {}
    for schema in SCHEMAS:
        tables = [row["table_name"] for row in stack.rows(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' "
            "AND (table_name = 'outbox' OR table_name LIKE 'processed%')")]
        for table in tables:
            if table == "outbox":
                counts = stack.rows(f"SELECT count(*) AS all_rows, count(sent_at) AS published FROM {schema}.outbox")[0]
                rows[f"{schema}.outbox"] = int(counts["all_rows"])
                rows[f"{schema}.outbox published"] = int(counts["published"])
            else:
                rows[f"{schema}.{table}"] = int(stack.value(f"SELECT count(*) FROM {schema}.{table}"))
    return rows


def error_lines(fleet):
    found = {}
    for member in fleet.all():
        try:
            with open(member.log_path, errors="replace") as log_file:
                lines = [line.rstrip() for line in log_file if ERROR_LINE.search(line)]
        except FileNotFoundError:
            lines = []
        if lines:
            found[member.label] = lines
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="folder holding the passerelle-* executables")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the stream runs")
    parser.add_argument("--warm-up", type=float, default=5.0, help="minutes before memory is taken as the baseline")
    parser.add_argument("--rate", type=float, default=10.0, help="referrals per second")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--dir", default="/var/tmp/passerelle-soak", help="the stack's data and logs (wiped at start)")
    parser.add_argument("--pg-port", type=int, default=25444)
    parser.add_argument("--kafka-port", type=int, default=29104)
    parser.add_argument("--s3-port", type=int, default=29105)
    parser.add_argument("--service-port", type=int, default=28191, help="intake's port; the other services take the next three")
    parser.add_argument("--quiet-timeout", type=float, default=300.0)
    parser.add_argument("--retry-after-cap", type=float, default=1.0)
    parser.add_argument("--report", default=os.path.join(ROOT, "Tests/FaultTests/results/soak.md"))
    parser.add_argument("--keep-stack", action="store_true")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    # Ports of its own, so a soak and the fault tests can run on one machine.
    for offset, service in enumerate(("intake", "matching", "notification", "evaluation")):
        services.BASE_PORTS[service] = args.service_port + offset
    run = Run(args)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    # The run stops itself: the stream's length, the settling and a margin.
    deadline = args.minutes * 60 + args.quiet_timeout + 600
    watchdog = threading.Timer(deadline, lambda: (run.stop(), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()

    samples = []
    started_at = datetime.now(timezone.utc)
    try:
        try:
            run.start()
        except Exception as error:
            print(f"[soak] could not start the stack and services: {error}", file=sys.stderr, flush=True)
            return 2
        stream = ReferralStream(tag="soak", intake_port=run.fleet["intake"].port, token=run.token, rate=args.rate,
                                retry_after_cap=args.retry_after_cap)
        stream.start()
        begin = time.monotonic()
        end = begin + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
            sample = {"minute": (time.monotonic() - begin) / 60, "sent": stream.sent,
                      "rss": {member.label: resident_kib(member) for member in run.fleet.all()}, "rows": table_rows(run.stack)}
            samples.append(sample)
            log(f"[soak] {sample['minute']:.1f} min, {sample['sent']} sent, rss KiB {sample['rss']}")
        finished = stream.stop(timeout=150)
        outcome, waited, state = ledger.wait_quiet(run.stack, run.receiver, set(stream.accepted.values()), timeout=args.quiet_timeout)
        reconciled = ledger.reconcile(run.stack, run.receiver, run.fleet, stream)
        checks = [("the stream stopped", finished, ""), ("the loop settled", outcome == "complete", f"{outcome} after {waited:.0f}s: {state}")]
        checks += [(f"reconciled: {name}", ok, detail) for name, ok, detail in reconciled.checks]
        after_warm_up = [sample for sample in samples if sample["minute"] >= args.warm_up]
        growth = {}
        for label in samples[0]["rss"] if samples else []:
            values = [sample["rss"].get(label) for sample in after_warm_up if sample["rss"].get(label)]
            if len(values) >= 6:
                first, last = statistics.median(values[:3]), statistics.median(values[-3:])
                growth[label] = (first, last, (last - first) / first * 100)
                checks.append((f"{label}: resident memory flat after warm-up (growth under 10 %)", last < first * 1.10,
                               f"{first / 1024:.0f} MiB -> {last / 1024:.0f} MiB ({growth[label][2]:+.1f} %)"))
            else:
                checks.append((f"{label}: enough samples after warm-up", False, f"{len(values)} samples"))
        horizon = run.stack.rows(
            "SELECT 'intake' AS schema, count(*) AS n FROM intake.outbox WHERE sent_at < now() - interval '8 days' "
            "UNION ALL SELECT 'matching', count(*) FROM matching.outbox WHERE sent_at < now() - interval '8 days' "
            "UNION ALL SELECT 'evaluation', count(*) FROM evaluation.outbox WHERE sent_at < now() - interval '8 days'")
        for row in horizon:
            checks.append((f"{row['schema']}.outbox: no published row kept past its purge horizon", int(row["n"]) == 0, f"{row['n']} rows"))
        errors = error_lines(run.fleet)
        checks.append(("no error in the services' logs", not errors, "; ".join(f"{label}: {lines[0][:200]}" for label, lines in errors.items())))
        failed = [check for check in checks if not check[1]]
        write_report(args, started_at, stream.summary(), samples, growth, checks)
        for name, ok, detail in checks:
            log(f"[soak] {'ok  ' if ok else 'FAIL'} {name} {detail}")
        return 1 if failed else 0
    except KeyboardInterrupt as error:
        print(f"[soak] interrupted: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        run.stop()


def write_report(args, started_at, summary, samples, growth, checks):
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    labels = list(samples[0]["rss"]) if samples else []
    tables = list(samples[-1]["rows"]) if samples else []
    lines = [
        f"# Soak: {args.minutes:.0f} minutes at {args.rate:g} referrals/s",
        "",
        f"Run {started_at:%Y-%m-%d %H:%M} UTC with `python3 Tests/FaultTests/soak.py --bin {os.path.relpath(args.bin, ROOT)} "
        f"--minutes {args.minutes:g} --rate {args.rate:g}` on {os.cpu_count()} cores; warm-up {args.warm_up:g} minutes.",
        "",
        f"Stream: {summary['sent']} sent, {summary['accepted']} accepted, {summary['unresolved']} unresolved, responses {summary['responses']}.",
        "",
        "## Checks",
        "",
    ]
    lines += [f"- {'pass' if ok else '**FAIL**'}: {name}{f' ({detail})' if detail else ''}" for name, ok, detail in checks]
    lines += ["", "## Resident memory (MiB) and rows, every sample", "",
              "| minute | sent | " + " | ".join(labels) + " | " + " | ".join(tables) + " |",
              "|---:|---:|" + "---:|" * (len(labels) + len(tables))]
    for sample in samples:
        rss = [f"{sample['rss'][label] / 1024:.0f}" if sample["rss"].get(label) else "-" for label in labels]
        rows = [str(sample["rows"].get(table, "-")) for table in tables]
        lines.append(f"| {sample['minute']:.1f} | {sample['sent']} | " + " | ".join(rss) + " | " + " | ".join(rows) + " |")
    with open(args.report, "w") as report:
        report.write("\n".join(lines) + "\n")
    log(f"[soak] report written to {args.report}")


if __name__ == "__main__":
    sys.exit(main())
