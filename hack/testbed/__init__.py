"""The local test bed: real servers on loopback for e2e tests and `make demo`.

Each module starts one kind of server with `start(directory)` and returns an object with its
addresses, credentials, `processes`, `env()` (how to reach it, as environment variables) and
`stop()`. `python -m hack.testbed up|down|env|status` runs them outside pytest.
"""
