"""Bounded waits and progress lines with the time since the run started."""
import sys
import time

STARTED = time.monotonic()


def elapsed():
    return time.monotonic() - STARTED


def log(message):
    print(f"[faults {elapsed():6.1f}s] {message}", flush=True)


class WaitTimeout(Exception):
    pass


def wait_for(condition, timeout, what, interval=0.25):
    """Polls `condition` until it returns something true; raises WaitTimeout after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def fail(message):
    print(message, file=sys.stderr, flush=True)
    sys.exit(2)
