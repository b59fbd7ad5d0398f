"""The dataset registry: named data sets with numbered, immutable versions (a registered URI
or a file kept in the artifact store), the host cache tasks read them from, and lineage
(which attempt read or wrote which version). docs/datasets.md describes it."""
