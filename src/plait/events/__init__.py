"""Events: the transactional outbox, the dispatcher that publishes it, and the bus."""
