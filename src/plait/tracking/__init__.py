"""Tracking adapters: each run's params, tags, metrics, artifacts and final status forwarded
to MLflow, Weights & Biases, ... off the run's path (see `forwarder`). The database keeps
everything whatever happens here: a tracking server that is down or an adapter that is not
installed delays or fails the forwarding, never the run."""
