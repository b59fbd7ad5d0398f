"""Reading an attempt's events file (JSON lines a task appends) in bounded pieces.

The file is the task's to write, so nothing about it is trusted: it is read in fixed-size
chunks, at most a budget of bytes and a number of lines per read, and a line longer than
`MAX_LINE` is skipped as it streams past, never held. What the reader holds at once is
bounded by `MAX_LINE + CHUNK`, whatever the task wrote.
"""

from __future__ import annotations

from pathlib import Path

from plait.executors.limits import MAX_LINE, MAX_RECORDS_PER_BATCH, READ_BUDGET

CHUNK = 64 * 1024


class EventsFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0  # where the next read starts: the start of a line not yet read
        self.lines = 0  # complete lines read so far
        self.peak = 0  # the most bytes held at once (for tests and the bench)
        self._skipping = False  # inside a line too long to keep

    def read(
        self, budget: int = READ_BUDGET, max_lines: int = MAX_RECORDS_PER_BATCH
    ) -> list[bytes | None]:
        """Up to `max_lines` complete lines from where the last read stopped, reading about
        `budget` bytes at most. A line over `MAX_LINE` comes back as None. A line not yet
        complete stays for the next read."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed below; missing is normal)
        except FileNotFoundError:
            return []
        lines: list[bytes | None] = []
        with f:
            f.seek(self.offset)
            held, spent = b"", 0
            while spent < budget and len(lines) < max_lines and (chunk := f.read(CHUNK)):
                spent += len(chunk)
                data = held + chunk
                self.peak = max(self.peak, len(data))
                held = self._split(data, lines, max_lines)
        return lines

    def _split(self, data: bytes, lines: list[bytes | None], max_lines: int) -> bytes:
        """Move the complete lines of `data` (which starts at `offset`) into `lines`; return
        the incomplete rest, or nothing when that rest is too long to keep."""
        start = 0
        while len(lines) < max_lines and (end := data.find(b"\n", start)) >= 0:
            long = self._skipping or end - start > MAX_LINE
            lines.append(None if long else data[start:end])
            self._skipping = False
            self.lines += 1
            start = end + 1
        self.offset += start
        rest = data[start:]
        if len(lines) >= max_lines:
            return b""  # the rest is read again next time
        if self._skipping or len(rest) > MAX_LINE:
            self._skipping = True
            self.offset += len(rest)
            return b""
        return rest
