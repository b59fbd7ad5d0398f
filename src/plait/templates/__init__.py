"""Templates: reusable workflow specs. The built-in catalog ships as files in `catalog/`
(tasks read its sample data from there, so this package imports nothing at import time);
users' templates are rows (`store`)."""
