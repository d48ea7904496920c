"""A reorg-safe index of the contracts' events in SQLite or PostgreSQL, and the queries over it.

`follower` reads the chain (through `chain.logs`) into the tables of `schema`; `events` is the one place
that knows how the contracts' events are laid out; `queries` is all the explorer and the CLI read;
`match` picks offers for `job create --match`.
"""
