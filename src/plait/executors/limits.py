"""The bounds on what a task may report, in one place: the server checks every record
against them (`plait.executors.reports`), and the task SDK checks at the source, so a task
hears of a broken bound at once. Plain numbers: the SDK imports this in every task (and
`plait.bounded`, which imports only `re`).
"""

from __future__ import annotations

# Nesting of an output value: the rule for all JSON Plait keeps.
from plait.bounded import MAX_DEPTH as MAX_DEPTH

MAX_OUTPUT_BYTES = 64 * 1024  # one output value, as JSON
MAX_OUTPUT_KEYS = 64  # distinct outputs of one attempt
MAX_KEY = 200  # output and metric keys (the metrics table's column)
MAX_NAME = 255  # artifact names (the artifacts table's column)
MAX_MESSAGE = 1000  # an error line a task reports; longer ones are cut
MAX_PROGRESS_MESSAGE = 200  # the message of a progress record
MAX_ERROR = 4000  # an attempt's error as the executor reports it
MAX_LOG_TEXT = 128 * 1024  # one log report (the executor sends at most 64 KiB of output)
MAX_STEP = 2**31 - 1  # a metric's step (a 32-bit column on PostgreSQL)
MAX_SIZE = 2**53  # an artifact's size in bytes
MAX_LINE = MAX_OUTPUT_BYTES + 4096  # one record in the events file, newline included
MAX_RECORDS_PER_BATCH = 1000  # records read from one attempt per batch
READ_BUDGET = 1 << 20  # bytes read from one attempt's events file per batch
# Records of one attempt in all: past this the attempt is failed. Room for a training loop
# logging a few hundred thousand points; bounded because each is a row in the database (and
# an event) and a runaway loop must not fill the disk or the run page.
MAX_RECORDS = 500_000
MAX_EVENTS_BYTES = 128 << 20  # bytes of one attempt's events file (~250 B per record): idem
MAX_REJECTED = 100  # bad records of one attempt: past this it is failed
MAX_LOG_CHUNK = 1 << 20  # one chunk of log a remote worker uploads
