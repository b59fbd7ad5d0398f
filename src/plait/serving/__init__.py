"""Serving deployed models: one child process per deployment (`worker`), kept by the
`supervisor`, asked over length-prefixed JSON frames (`protocol`); rows are checked against
the version's signature (`signature`) before any process is asked, and counted (`counters`)."""
