"""The `plait` command line. Apart from `server` and `db`, it talks to the REST API only."""
