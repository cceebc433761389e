"""One checker run: start the stack and the consumers, inject the plan, settle, judge."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from tests.checker.consumers import Consumer, RedisSubscriber
from tests.checker.faults import Injector
from tests.checker.oracle import Produced, judge
from tests.checker.report import Report
from tests.checker.schedule import KINDS, plan
from tests.checker.stack import NETWORK, PREFIX, Stack
from tests.faults.loss import address

log = logging.getLogger("checker")

MAX_RSS_MIB = 400.0
CALL_TIMEOUT_S = 5.0
PAY_INTERVAL_S = 2.0
UNJUDGED_TAIL_S = 8.0
"""Events produced this close to the judgment are not judged (they may still be on their way)."""


@dataclass(frozen=True)
class Config:
    """What to run."""

    seed: int
    fault_s: float
    settle_s: float = 25.0
    warmup_s: float = 6.0
    speed: float = 100.0
    """Simulator speed: a block about every 6 s."""
    tick_s: float = 0.5
    command: str = ""
    dump: Path | None = None
    """Where to write the journal, what each consumer got and the fault log (JSON), to study a verdict."""


def _consumers(stack: Stack, addresses: list[str]) -> list[Consumer]:
    gw0, gw1 = stack.gateway_urls
    kw = {"timeout_s": CALL_TIMEOUT_S}
    return [
        Consumer("blocks@gw0", gw0, "stream_blocks", "blocks", **kw),
        Consumer("blocks@gw1", gw1, "stream_blocks", "blocks", **kw),
        Consumer("stats@gw0", gw0, "stream_stats", "stats", **kw),
        Consumer("stats@gw1", gw1, "stream_stats", "stats", **kw),
        Consumer("address0@gw0", gw0, "track_address", "address", address=addresses[0], **kw),
        Consumer("address1@gw1", gw1, "track_address", "address", address=addresses[1], **kw),
    ]


async def _pay(stack: Stack, addresses: list[str]) -> None:
    """Pay every address every :data:`PAY_INTERVAL_S` (the payments the judge follows)."""
    n = 0
    async with httpx.AsyncClient(timeout=3) as client:
        while True:
            for target in addresses:
                n += 1
                with contextlib.suppress(httpx.HTTPError):
                    await client.get(f"{stack.sim_url}/_sim/pay", params={"address": target, "sats": 10_000 + n})
            await asyncio.sleep(PAY_INTERVAL_S)


async def run(config: Config) -> Report:
    """Run the checker once and return its report."""
    started = time.monotonic()
    report = Report(config.command, config.seed, config.fault_s / 60, settle_s=config.settle_s)
    stack = Stack(seed=config.seed, speed=config.speed, tick_s=config.tick_s)
    addresses = [address(9001), address(9002)]
    consumers: list[Consumer] = []
    channels = [f"{PREFIX}:{NETWORK}:{topic}" for topic in ("blocks", "stats")]
    channels += [f"{PREFIX}:{NETWORK}:address:{a}" for a in addresses]
    subscriber = RedisSubscriber(stack.redis.port, channels, f"{PREFIX}:{NETWORK}:epoch")
    payer: asyncio.Task[None] | None = None
    loads: list[float] = []
    fault_log: list[tuple[int, str]] = []
    try:
        await stack.start()
        consumers = _consumers(stack, addresses)
        for consumer in consumers:
            consumer.start()
        subscriber.start()
        payer = asyncio.create_task(_pay(stack, addresses))
        await asyncio.sleep(config.warmup_s)
        window_start = int(time.time() * 1000)
        injector = Injector(stack, consumers)
        deadline = time.monotonic() + config.fault_s
        for index, step in enumerate(plan(config.seed)):
            if time.monotonic() >= deadline and index >= len(KINDS):  # every kind at least once
                break
            loads.append(os.getloadavg()[0])
            log.info("fault: %s", step.describe())
            fault_log.append((int(time.time() * 1000), step.describe()))
            await injector.apply(step)
            report.faults[step.kind] += 1
            await asyncio.sleep(step.pause_s)
        log.info("faults over; settling %.0f s", config.settle_s)
        await asyncio.sleep(config.settle_s)
        loads.append(os.getloadavg()[0])
        window_end = int(time.time() * 1000) - int(UNJUDGED_TAIL_S * 1000)
        async with httpx.AsyncClient(timeout=10) as client:
            journal = (await client.get(f"{stack.sim_url}/_sim/journal")).json()
        for consumer in consumers:
            await consumer.kill()
        await subscriber.stop()
        stack.sample_memory()
        report.skipped = injector.skipped
        report.overflow_drops = injector.overflow_drops
        report.window_s = (window_end - window_start) / 1000
        produced = Produced.from_journal(journal)
        report.verdict = judge(produced, [c.received for c in consumers], (window_start, window_end))
        if config.dump is not None:
            received = [asdict(c.received) for c in consumers]
            body = {"journal": journal, "received": received, "faults": fault_log, "window": [window_start, window_end]}
            config.dump.write_text(json.dumps(body))
        report.violations = _stack_violations(stack, consumers, subscriber, journal)
        report.violations = report.verdict.violations + report.violations
        report.max_rss_mib = {d.name: d.max_rss_mib for d in stack.daemons} | {"redis": stack.redis_max_rss_mib}
        report.restarts = {d.name: len(d.history) - 1 for d in stack.daemons if len(d.history) > 1}
        report.subscriber_messages = subscriber.messages
        report.subscriber_sessions = len(subscriber.sessions)
        report.consumer_kills = report.faults["client_kill"]
    finally:
        if payer is not None:
            payer.cancel()
            with contextlib.suppress(BaseException):
                await payer
        for consumer in consumers:
            await consumer.kill()
        await subscriber.stop()
        await stack.stop()
    report.load_average = (min(loads, default=0.0), max(loads, default=0.0))
    report.wall_s = time.monotonic() - started
    return report


def _stack_violations(
    stack: Stack, consumers: list[Consumer], subscriber: RedisSubscriber, journal: dict[str, object]
) -> list[str]:
    violations: list[str] = []
    for daemon in stack.daemons:
        violations += daemon.exits
        if daemon.max_rss_mib > MAX_RSS_MIB:
            violations.append(f"{daemon.name} reached {daemon.max_rss_mib:.0f} MiB RSS (bound {MAX_RSS_MIB:.0f})")
    if stack.redis_max_rss_mib > MAX_RSS_MIB:
        violations.append(f"redis reached {stack.redis_max_rss_mib:.0f} MiB RSS (bound {MAX_RSS_MIB:.0f})")
    for consumer in consumers:
        violations += consumer.errors
    violations += subscriber.violations
    if journal.get("dropped"):
        violations.append(f"the simulator's journal dropped {journal['dropped']} entries: the judgment is incomplete")
    if not subscriber.messages:
        violations.append("the Redis subscriber received nothing")
    return violations
