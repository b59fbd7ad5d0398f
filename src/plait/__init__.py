"""Plait: an MLOps workflow platform.

Inside a task, `import plait` gives the task SDK: `plait.params()`, `plait.inputs()`,
`plait.set_output()`, `plait.log_metric()`, `plait.log_metrics()`, `plait.log_artifact()`,
`plait.progress()` and `plait.logical_date()`; `plait.dataset()` and `plait.log_dataset()`
read and write the dataset registry; `plait.log_model()` registers a trained model.
"""

from plait.sdk import (
    dataset,
    inputs,
    log_artifact,
    log_dataset,
    log_metric,
    log_metrics,
    log_model,
    logical_date,
    params,
    progress,
    set_output,
)

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "dataset",
    "inputs",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_model",
    "logical_date",
    "params",
    "progress",
    "set_output",
]
