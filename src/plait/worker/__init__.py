"""`plait worker`: runs task attempts that a server sends through a Celery broker.

A worker host needs no database and no server code: it claims an attempt over the server's
execution API, runs it with a local executor of its own (the same fork server and sandbox
as the server's), and ships its reports, log and artifacts back over HTTP with a worker
token. Nothing here imports SQLAlchemy, FastAPI or `plait.api` (a test checks).
"""
