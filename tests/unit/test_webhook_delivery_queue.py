"""The per-room webhook queue: order, retries with backoff, and its bounds (sfu.webhooks.delivery_queue)."""

from __future__ import annotations

import pytest

from sfu.webhooks.delivery_queue import BACKOFF_MAX, DeliveryQueue, retry_delay, retryable


def test_events_go_one_at_a_time_in_order():
    q = DeliveryQueue()
    for i in range(3):
        assert q.push(f"e{i}", b"%d" % i, now=0.0)
    sent = []
    while True:
        item, wait = q.next(1.0)
        if item is None:
            break
        assert q.result(item, 200, 1.0) == "sent"
        sent.append(item.name)
    assert sent == ["e0", "e1", "e2"] and wait == 0.0 and q.sent == 3


def test_a_failed_event_is_retried_with_backoff_before_anything_later():
    q = DeliveryQueue()
    q.push("first", b"1", 0.0)
    q.push("second", b"2", 0.0)
    item, _ = q.next(0.0)
    assert q.result(item, 503, 0.0) == "retry"
    assert q.next(0.5) == (None, pytest.approx(0.5))       # waits retry_delay(1) = 1 s
    item, _ = q.next(1.0)
    assert item.name == "first"
    assert q.result(item, None, 1.0) == "retry"             # no answer: retried too
    assert q.next(2.5)[0] is None and q.next(3.0)[0].name == "first"   # then 2 s
    assert q.result(q.next(3.0)[0], 204, 3.0) == "sent"
    assert q.next(3.0)[0].name == "second"


def test_backoff_doubles_up_to_its_cap():
    assert [retry_delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, BACKOFF_MAX, BACKOFF_MAX]


@pytest.mark.parametrize("status, again", [(None, True), (500, True), (503, True), (429, True), (408, True),
                                           (400, False), (401, False), (404, False)])
def test_which_answers_are_worth_another_try(status, again):
    assert retryable(status) is again


def test_a_rejected_event_is_dropped_and_the_next_goes():
    q = DeliveryQueue()
    q.push("bad", b"1", 0.0)
    q.push("good", b"2", 0.0)
    assert q.result(q.next(0.0)[0], 401, 0.0) == "rejected"
    assert q.next(0.0)[0].name == "good" and q.dropped["rejected"] == 1


def test_an_event_is_given_up_after_max_attempts():
    q = DeliveryQueue(max_attempts=3, max_age=1000)
    q.push("e", b"1", 0.0)
    now, outcomes = 0.0, []
    while q.items:
        item, wait = q.next(now)
        if item is None:
            now += wait
            continue
        outcomes.append(q.result(item, 500, now))
    assert outcomes == ["retry", "retry", "attempts"] and q.dropped["attempts"] == 1


def test_events_too_old_are_dropped_and_the_queue_is_bounded():
    q = DeliveryQueue(max_depth=2, max_age=30.0)
    assert q.push("a", b"1", 0.0) and q.push("b", b"2", 10.0)
    assert not q.push("c", b"3", 10.0) and q.dropped["queue_full"] == 1
    item, _ = q.next(35.0)          # a waited 35 s: dropped; b (25 s) still goes
    assert item.name == "b" and q.dropped["age"] == 1
    assert q.next(41.0) == (None, 0.0) and q.dropped["age"] == 2


def test_a_result_for_the_wrong_event_is_refused():
    q = DeliveryQueue()
    q.push("a", b"1", 0.0)
    q.push("b", b"2", 0.0)
    head, _ = q.next(0.0)
    with pytest.raises(ValueError):
        q.result(q.items[1], 200, 0.0)
    assert q.result(head, 200, 0.0) == "sent"
