pytest_plugins = [
    "tests.fixtures.accounts",
    "tests.fixtures.contracts",
    "tests.fixtures.jobs",
    "tests.fixtures.leases",
    "tests.fixtures.postgres",
]
