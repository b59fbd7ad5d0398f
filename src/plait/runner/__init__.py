"""The runner: runs ONE task attempt in its own process (forked from the fork server)."""
