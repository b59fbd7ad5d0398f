"""Notifications: rules turn run events into deliveries; a worker sends them to channels.

- `rules.on_event`: an outbox handler; queues one `Delivery` per matching rule.
- `sla.SlaWatch`: queues `run.duration_exceeded` for runs past their workflow's SLA.
- `worker.DeliveryWorker`: sends due deliveries with timeouts, retries and backoff, off the
  scheduler's path, and records every attempt.
- `channels`: the senders (Slack, email, signed webhook) and `verify_signature`.
- `config`: what each kind of channel needs, checked before it is saved.
- `messages`: the facts of a run worth telling, and how they read.
- `store`: channels and rules in the database (the API's business rules).
"""
