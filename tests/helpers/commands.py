"""Running a command from async code, bounded in time."""

from __future__ import annotations

import asyncio


async def run(*cmd: str, env: dict | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """(exit code, stdout, stderr); AssertionError, the process killed, after `timeout`"""
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{cmd} did not finish within {timeout} s") from None
    return proc.returncode, out.decode(), err.decode()
