"""The local stack's ports: below the ephemeral range (where outgoing connections take theirs),
never the same one twice, never one a listener holds."""

import socket

import processes


def test_ports_come_from_below_the_ephemeral_range_and_differ():
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])  # read here, not by the code
    ports = [processes.free_port() for _ in range(50)]
    assert len(set(ports)) == 50 and all(1024 <= p < low for p in ports)


def test_a_port_a_listener_holds_is_skipped(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", processes.free_port()))
        taken = held.getsockname()[1]
        held.listen()
        real, asked = processes._RANDOM.randrange, []

        def first_the_held_port(a, b):
            asked.append(a)
            return taken if len(asked) == 1 else real(a, b)

        monkeypatch.setattr(processes._RANDOM, "randrange", first_the_held_port)
        processes._HANDED_OUT.discard(taken)
        assert processes.free_port() != taken and len(asked) >= 2  # it was offered, and passed over


def test_side_by_side_processes_take_disjoint_ports(monkeypatch):
    """xdist's workers each run stacks: slot i of n only ever gets ports p % n == i."""
    monkeypatch.setenv(processes.PORT_SLOTS, "2")
    for slot in (0, 1):
        monkeypatch.setenv(processes.PORT_SLOT, str(slot))
        assert {processes.free_port() % 2 for _ in range(30)} == {slot}
