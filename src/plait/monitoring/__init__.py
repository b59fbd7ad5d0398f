"""The server's own instrumentation, exposed to Prometheus at `/metrics`.

Not to be confused with a task's tracked metrics (`plait.tracking`, `Metric` rows): this is
how the platform itself is doing. Every instrument is defined once in `instruments`, named
`plait_*`, and recorded where things happen; `exposition` builds what a scrape answers
(multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set); `http` is the request middleware.
See docs/operations.md.
"""

import os as _os

# prometheus_client opens its files in this directory as the first instrument is defined
# (importing `instruments`): it must exist by then, whichever way the server was started.
if _dir := _os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _os.makedirs(_dir, exist_ok=True)
