"""Loopback ports that tests hold unbound for a while, safe while other tests run in parallel."""

import random
import socket

# Linux hands out ports from 32768 up (ip_local_port_range) to bind(("", 0)) and to outgoing connections; below
# that, a port is only taken by someone who asks for it by number.
BELOW_THE_EPHEMERAL_RANGE = range(20000, 32768)


def free_port() -> int:
    """A loopback port nothing listens on now, below the ephemeral range: a test can leave it unbound while a
    `qc-bot serve` process starts, is killed and started again (or keep it as a port nobody answers on)
    without a socket of a test running in parallel being given it in the meantime."""
    for port in random.sample(BELOW_THE_EPHEMERAL_RANGE, 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")
