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
- the tables the purge rules bound grow with the work and no faster: their rows per referral sent
  at the end are within 10 % of what they were half-way (the purge horizons, an hour at the
  least, are longer than a soak: what is checked is that nothing accumulates beyond the work);
- the backlogs (outbox rows not yet published, notifications not yet sent) stay small;
- no service logged an error.

It is a separate command, not part of the test command (it runs for half an hour):

    python3 Tests/FaultTests/soak.py [--bin .build/debug] [--minutes 30] [--rate 10] [--report FILE]

--bin defaults to .build/release when it holds the executables, else .build/debug.

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
import platform  # noqa: E402
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


def backlog(stack):
    """Work waiting: outbox rows not yet published (all schemas) and notifications not yet sent."""
    row = stack.rows("""SELECT (SELECT count(*) FROM intake.outbox WHERE sent_at IS NULL) + (SELECT count(*) FROM matching.outbox WHERE sent_at IS NULL)
                               + (SELECT count(*) FROM notification.outbox WHERE sent_at IS NULL)
                               + (SELECT count(*) FROM evaluation.outbox WHERE sent_at IS NULL) AS unpublished,
                               (SELECT count(*) FROM notification.notification WHERE status IN ('pending', 'sending')) AS unsent""")[0]
    return {"outbox unpublished": int(row["unpublished"]), "notifications unsent": int(row["unsent"])}


def table_bytes(stack):
    """On-disk size (table, indexes and TOAST) of the purged tables and of notification's queue,
    whose updates leave dead rows for autovacuum."""
    rows = stack.rows("""SELECT n.nspname || '.' || c.relname AS name, pg_total_relation_size(c.oid) AS bytes
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE c.relkind = 'r' AND n.nspname IN ('intake', 'matching', 'notification', 'evaluation')
                           AND (c.relname IN ('outbox', 'notification') OR c.relname LIKE 'processed%')""")
    return {row["name"]: int(row["bytes"]) for row in rows}


def log_lines(fleet, pattern):
    found = {}
    for member in fleet.all():
        try:
            with open(member.log_path, errors="replace") as log_file:
                lines = [line.rstrip() for line in log_file if pattern.search(line)]
        except FileNotFoundError:
            lines = []
        if lines:
            found[member.label] = lines
    return found


def error_lines(fleet):
    return log_lines(fleet, ERROR_LINE)


WARNING_LINE = re.compile(r'"level"\s*:\s*"warning"')
MESSAGE = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"')


def distinct_messages(lines, limit=5):
    """The most frequent messages among log lines, with their counts."""
    counts = {}
    for line in lines:
        match = MESSAGE.search(line)
        text = match.group(1) if match else line[:160]
        counts[text] = counts.get(text, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])[:limit]


def default_bin():
    for folder in (".build/release", ".build/debug"):
        path = os.path.join(ROOT, folder)
        if os.access(os.path.join(path, "passerelle-intake"), os.X_OK):
            return path
    return os.path.join(ROOT, ".build/debug")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=None, help="folder holding the passerelle-* executables (default: .build/release, else .build/debug)")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the stream runs")
    parser.add_argument("--warm-up", type=float, default=5.0, help="minutes before memory is taken as the baseline")
    parser.add_argument("--rate", type=float, default=10.0, help="referrals per second")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--dir", default="/var/tmp/passerelle-soak", help="the stack's data and logs (wiped at start)")
    parser.add_argument("--pg-port", type=int, default=25444)
    parser.add_argument("--kafka-port", type=int, default=29104)
    parser.add_argument("--s3-port", type=int, default=29105)
    parser.add_argument("--smtp-port", type=int, default=25446, help="the harness's SMTP relay (no link worker uses it here)")
    parser.add_argument("--service-port", type=int, default=28191, help="intake's port; the other services take the next three")
    parser.add_argument("--quiet-timeout", type=float, default=300.0)
    parser.add_argument("--retry-after-cap", type=float, default=1.0)
    parser.add_argument("--report", default=os.path.join(ROOT, "Tests/FaultTests/results/soak.md"))
    parser.add_argument("--keep-stack", action="store_true")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin or default_bin())
    args.hang = 0.0  # read by the fault scenarios' harness, unused here
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
                      "rss": {member.label: resident_kib(member) for member in run.fleet.all()}, "rows": table_rows(run.stack),
                      "bytes": table_bytes(run.stack), "backlog": backlog(run.stack),
                      "errors": sum(len(lines) for lines in error_lines(run.fleet).values())}
            samples.append(sample)
            log(f"[soak] {sample['minute']:.1f} min, {sample['sent']} sent, rss KiB {sample['rss']}, backlog {sample['backlog']}")
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
        retention = services.Fleet.environment(run.fleet, "intake", 0)["PASSERELLE_OUTBOX_RETENTION_HOURS"]
        horizon = run.stack.rows(" UNION ALL ".join(
            f"SELECT '{schema}' AS schema, count(*) AS n FROM {schema}.outbox WHERE sent_at < now() - interval '{retention} hours'"
            for schema in SCHEMAS))
        for row in horizon:
            checks.append((f"{row['schema']}.outbox: no published row kept past its purge horizon ({retention} h)", int(row["n"]) == 0,
                           f"{row['n']} rows"))
        # Rows per referral sent, half-way and at the end: a table that grows with the work keeps it.
        half = [sample for sample in samples if sample["minute"] >= args.minutes / 2][:1]
        if half and samples[-1]["sent"] and half[0]["sent"]:
            for table in samples[-1]["rows"]:
                if table.endswith(" published"):
                    continue
                middle = half[0]["rows"].get(table, 0) / half[0]["sent"]
                end_ratio = samples[-1]["rows"][table] / samples[-1]["sent"]
                checks.append((f"{table}: rows grow with the work (per referral, end within 10 % of half-way)",
                               middle == 0 or abs(end_ratio - middle) <= 0.10 * middle, f"{middle:.2f} -> {end_ratio:.2f} rows per referral"))
        most = max((sample["backlog"]["outbox unpublished"] + sample["backlog"]["notifications unsent"] for sample in samples), default=0)
        checks.append(("backlogs stay small (unpublished outbox rows and unsent notifications under three minutes of work)",
                       most < args.rate * 60 * 3, f"at most {most} in a sample"))
        errors = error_lines(run.fleet)
        checks.append(("no error in the services' logs", not errors, "; ".join(f"{label}: {lines[0][:200]}" for label, lines in errors.items())))
        warnings = log_lines(run.fleet, WARNING_LINE)
        failed = [check for check in checks if not check[1]]
        write_report(args, started_at, stream.summary(), samples, growth, checks, errors, warnings, run.fleet.restarts)
        for name, ok, detail in checks:
            log(f"[soak] {'ok  ' if ok else 'FAIL'} {name} {detail}")
        return 1 if failed else 0
    except KeyboardInterrupt as error:
        print(f"[soak] interrupted: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        run.stop()


def write_report(args, started_at, summary, samples, growth, checks, errors, warnings, restarts):
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    labels = list(samples[0]["rss"]) if samples else []
    tables = [table for table in (samples[-1]["rows"] if samples else []) if not table.endswith(" published")]
    sized = sorted(samples[-1]["bytes"]) if samples else []
    load = os.getloadavg()
    lines = [
        f"# Soak: {args.minutes:.0f} minutes at {args.rate:g} referrals/s",
        "",
        f"Run {started_at:%Y-%m-%d %H:%M} UTC on {platform.node()} ({platform.machine()}, {os.cpu_count()} cores, shared with other "
        f"builds and tests; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}), "
        f"`python3 Tests/FaultTests/soak.py --bin {os.path.relpath(args.bin, ROOT)} --minutes {args.minutes:g} --rate {args.rate:g}`; "
        f"warm-up {args.warm_up:g} minutes, a sample every {args.sample:g} s.",
        "",
        f"Stream: {summary['sent']} sent, {summary['accepted']} accepted, {summary['unresolved']} unresolved, responses {summary['responses']}.",
        f"Services restarted after ending on their own: {len(restarts)}.",
        "",
        "## Checks",
        "",
    ]
    lines += [f"- {'pass' if ok else '**FAIL**'}: {name}{f' ({detail})' if detail else ''}" for name, ok, detail in checks]
    lines += ["", "## Resident memory after the warm-up", "",
              "Median of the first three samples after the warm-up, of the last three, and the largest sample.", "",
              "| service | after warm-up (MiB) | at the end (MiB) | growth | largest (MiB) |", "|---|---:|---:|---:|---:|"]
    for label in labels:
        peak = max((sample["rss"].get(label) or 0 for sample in samples), default=0)
        if label in growth:
            first, last, percent = growth[label]
            lines.append(f"| {label} | {first / 1024:.1f} | {last / 1024:.1f} | {percent:+.1f} % | {peak / 1024:.1f} |")
        else:
            lines.append(f"| {label} | - | - | - | {peak / 1024:.1f} |")
    lines += ["", "## Log lines at error level", ""]
    if errors:
        for label, found in errors.items():
            lines.append(f"- {label}: {len(found)} lines; " + "; ".join(f"{count} × {text[:160]}" for text, count in distinct_messages(found)))
    else:
        lines.append("None.")
    lines += ["", "Warnings (not failed): " + ("; ".join(
        f"{label}: {len(found)} (" + ", ".join(f"{count} × {text[:100]}" for text, count in distinct_messages(found, 3)) + ")"
        for label, found in warnings.items()) or "none") + "."]
    lines += ["", "## Every sample", "",
              "Resident memory (MiB) per service; rows of the purged tables; backlogs; log lines at error level so far.", "",
              "| minute | sent | " + " | ".join(labels) + " | " + " | ".join(tables) + " | unpublished | unsent | errors |",
              "|---:|---:|" + "---:|" * (len(labels) + len(tables) + 3)]
    for sample in samples:
        rss = [f"{sample['rss'][label] / 1024:.0f}" if sample["rss"].get(label) else "-" for label in labels]
        rows = [str(sample["rows"].get(table, "-")) for table in tables]
        lines.append(f"| {sample['minute']:.1f} | {sample['sent']} | " + " | ".join(rss) + " | " + " | ".join(rows)
                     + f" | {sample['backlog']['outbox unpublished']} | {sample['backlog']['notifications unsent']} | {sample['errors']} |")
    lines += ["", "## On-disk size of the purged tables and the notification queue (MiB)", "",
              "| minute | " + " | ".join(sized) + " |", "|---:|" + "---:|" * len(sized)]
    for sample in samples[::4] + ([samples[-1]] if samples and (len(samples) - 1) % 4 else []):
        lines.append(f"| {sample['minute']:.1f} | " + " | ".join(f"{sample['bytes'].get(name, 0) / 1048576:.1f}" for name in sized) + " |")
    with open(args.report, "w") as report:
        report.write("\n".join(lines) + "\n")
    log(f"[soak] report written to {args.report}")


if __name__ == "__main__":
    sys.exit(main())
