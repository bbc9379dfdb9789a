"""The LiveKit Agents worker (``python -m assistant.agent dev|start``): the server dispatches rooms
to workers, each job in its own process, so rooms spread over machines. Each job serves its room
with the same ``RoomAgent`` and ``LiveSession`` as ``connect``; settings come from the environment
(``options_from_env``; ``WORKBENCH_RECORD_DIR`` records every job's room as a dataset)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from assistant.core.errors import WorkbenchError
from assistant.core.tenancy import tenant_from_room
from assistant.livekit.agent import AGENTS_HINT, RoomAgent, build_session, options_from_env

log = logging.getLogger("assistant.agent")


async def entrypoint(ctx: Any) -> RoomAgent:
    """A job: one room dispatched to this worker (``livekit.agents.JobContext``). Returns the
    ``RoomAgent`` serving it (LiveKit Agents ignores the value; tests look at it)."""
    from livekit.agents import AutoSubscribe

    options = options_from_env()
    job_room = ctx.job.room
    tenant, warning = tenant_from_room(job_room.name, job_room.metadata)
    if warning:
        log.warning("%s", warning)
    session = await asyncio.to_thread(
        build_session, options, tenant=tenant, room_name=job_room.name, notice=log.info
    )
    agent = RoomAgent(ctx.room, session)
    agent.attach()

    async def close() -> None:
        await agent.detach()
        await session.aclose(status="finished")
        log.info("run %s closed (%s questions)", session.run_id, session.stats.questions)
        if session.recorder is not None:
            log.info("recorded %s", session.recorder.folder)

    ctx.add_shutdown_callback(close)
    await ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_ALL)
    log.info("serving %s for tenant %s: run %s", job_room.name, tenant, session.run_id)
    return agent


async def job(ctx: Any) -> None:
    """The worker's ``entrypoint_fnc``: ``entrypoint`` with the return type LiveKit expects."""
    await entrypoint(ctx)


def worker_options() -> Any:
    """``WorkerOptions`` for ``cli.run_app``: this module's entrypoint, one process per job."""
    try:
        from livekit.agents import WorkerOptions
    except ImportError as exc:
        raise WorkbenchError(AGENTS_HINT) from exc
    return WorkerOptions(
        entrypoint_fnc=job,
        agent_name=os.environ.get("WORKBENCH_DISPATCH_NAME", ""),
        shutdown_process_timeout=60.0,  # the last checkpoint and transcription need a moment
    )


def run_worker(argv: Sequence[str]) -> int:
    """``dev`` / ``start``: hand over to the LiveKit Agents CLI (which reads ``sys.argv``)."""
    options = worker_options()
    from livekit.agents import cli

    options_from_env()  # a bad config or ledger path fails here, before any job is taken
    sys.argv = ["assistant.agent", *argv]
    cli.run_app(options)
    return 0
