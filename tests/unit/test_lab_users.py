"""Counting what the lab's users lost from ping's own output."""

import pytest

from tcra.lab.users import INTERVAL, _count

REPLY = "64 bytes from fda5::10: icmp_seq={} ttl=62 time=0.101 ms\n"


def output(answered, transmitted):
    return ("".join(REPLY.format(n) for n in answered)
            + f"\n--- ping statistics ---\n{transmitted} packets transmitted,"
            f" {len(answered)} received\n")


def test_a_gap_is_lost_and_measured():
    assert _count(output([1, 2, 6, 7], 7)) == (7, 3, pytest.approx(3 * INTERVAL))


def test_the_last_packet_still_on_its_way_is_neither_sent_nor_lost():
    assert _count(output([1, 2, 3], 4)) == (3, 0, 0)


def test_no_reply_at_the_end_is_lost_but_the_one_in_flight():
    assert _count(output([1, 2], 6)) == (5, 3, pytest.approx(3 * INTERVAL))


def test_output_without_a_summary_is_refused():
    with pytest.raises(RuntimeError, match="no summary"):
        _count("ping: connect: Network is unreachable\n")
