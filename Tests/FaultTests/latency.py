"""Latency and jitter without tc netem (this kernel has no sch_netem): a TCP relay on the bridge
that holds every chunk it forwards for `latency` ± `jitter` milliseconds, each way, in order (a
chunk is never released before the one ahead of it, as TCP would not deliver it before). The
services' connections to the broker and to PostgreSQL are sent through it by a DNAT rule in their
namespaces (net_faults.py); connections opened before are reset so they come back through it."""
import asyncio
import random
import socket
import threading
import time


class DelayingRelay:
    """Listens on (host, port) for each upstream; forwards to it with the delay."""

    def __init__(self, host, upstreams, latency_ms, jitter_ms, seed=7):
        self.host = host
        self.upstreams = upstreams  # [(upstream host, upstream port)]
        self.latency = latency_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self.random = random.Random(seed)
        self.ports = {}             # (upstream host, port) -> the port the relay listens on for it
        self.connections = 0
        self.chunks = 0
        self.delays = []            # seconds each chunk was held, a sample
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="delaying-relay")
        self.servers = []
        self.tasks = set()
        self.writers = set()        # both ends of every relayed connection

    def start(self):
        self.thread.start()
        for upstream in self.upstreams:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, 0))
            self.ports[upstream] = listener.getsockname()[1]
            server = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(lambda r, w, upstream=upstream: self.relay(r, w, upstream), sock=listener), self.loop).result(10)
            self.servers.append(server)

    def stop(self):
        """Closes the listeners and every relayed connection (their clients reconnect directly)."""
        async def close():
            for server in self.servers:
                server.close()
            # Reset, not closed: a socket merely closed would wait for the loop's next turn, which
            # never comes once it stops, and the services would keep a connection nobody answers.
            for writer in list(self.writers):
                writer.transport.abort()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.sleep(0.2)
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def summary(self):
        held = sorted(self.delays)
        middle = held[len(held) // 2] * 1000 if held else None
        return {"connections": self.connections, "chunks": self.chunks,
                "held (ms) min/median/max": [round(held[0] * 1000), round(middle), round(held[-1] * 1000)] if held else None}

    async def relay(self, reader, writer, upstream):
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*upstream)
        except OSError:
            writer.close()
            return
        task = asyncio.current_task()
        self.tasks.add(task)
        self.writers.update((writer, upstream_writer))
        try:
            await asyncio.gather(self.pump(reader, upstream_writer), self.pump(upstream_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self.tasks.discard(task)
            for side in (writer, upstream_writer):
                self.writers.discard(side)
                side.close()

    async def pump(self, reader, writer):
        """Reads chunks as they come and writes each at its release time, in order."""
        queue = asyncio.Queue()

        async def release():
            while True:
                due, data = await queue.get()
                if data is None:
                    writer.write_eof() if writer.can_write_eof() else None
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        releaser = asyncio.ensure_future(release())
        last_due = 0.0
        try:
            while True:
                data = await reader.read(65536)
                now = time.monotonic()
                if not data:
                    await queue.put((now, None))
                    break
                due = max(last_due, now + max(0.0, self.latency + self.random.uniform(-self.jitter, self.jitter)))
                last_due = due
                if self.latency > 0:  # what the window delayed (afterwards it forwards at once)
                    self.chunks += 1
                    if len(self.delays) < 100000:
                        self.delays.append(due - now)
                await queue.put((due, data))
            await releaser
        finally:
            releaser.cancel()
