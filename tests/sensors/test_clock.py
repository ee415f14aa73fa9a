"""The one clock: play, pause, seek, speed limits, loop, step, live mode, frames independent of data."""

import pytest

from simulation.clock import MAX_SPEED, Clock, ManualTimeSource, iso, to_seconds

T0 = to_seconds("2024-05-01T00:00:00Z")


def make(**kw):
    src = ManualTimeSource(utc=T0 + 1000)
    clock = Clock(T0, source=src, **kw)
    seen = []
    clock.subscribe(seen.append)
    return clock, src, seen


def test_play_advances_by_wall_time_times_speed_and_emits_one_frame_per_tick():
    clock, src, seen = make(duration=3600, speed=100)
    clock.play()
    for _ in range(3):
        src.advance(0.5)
        clock.tick()
    assert seen == [T0 + 50, T0 + 100, T0 + 150]
    clock.pause()
    src.advance(10)
    assert clock.tick() == T0 + 150 and len(seen) == 3  # paused: no frame, no time


def test_speed_limits_and_frame_seconds():
    clock, _, _ = make(speed=MAX_SPEED, frame_rate=30)
    assert clock.frame_seconds == pytest.approx(10_000 / 30)
    for bad in (0.05, 10_001):
        with pytest.raises(ValueError, match="outside x0.1..x10,000"):
            clock.speed = bad
    clock.speed = 0.1
    assert clock.speed == 0.1


def test_end_pauses_on_the_last_instant_or_loops():
    clock, src, seen = make(duration=100, speed=10)
    clock.play()
    src.advance(25)
    clock.tick()
    assert seen[-1] == T0 + 100 and not clock.playing
    looping, src2, seen2 = make(duration=100, speed=10, loop=True)
    looping.play()
    src2.advance(13)
    looping.tick()
    assert seen2[-1] == pytest.approx(T0 + 30)
    assert looping.playing


def test_offset_seek_step_and_errors():
    clock, _, seen = make(duration=3600, offset=600, speed=60, frame_rate=10)
    assert clock.time == T0 + 600
    clock.seek("2024-05-01T00:30:00Z")
    assert seen[-1] == T0 + 1800
    clock.step(2)  # 2 frames of 6 s each
    assert clock.time == T0 + 1812 and not clock.playing
    clock.step(seconds=-12)
    assert clock.time == T0 + 1800
    with pytest.raises(ValueError, match="outside the clock's window"):
        clock.seek(T0 + 7200)
    with pytest.raises(ValueError, match="offset"):
        Clock(T0, duration=10, offset=20)


def test_run_with_a_virtual_source_is_exact_and_frames_are_independent_of_speed():
    for speed in (1, 10_000):
        clock, src, seen = make(duration=speed * 2.0, speed=speed, frame_rate=30)
        frames = clock.run(sleep=src.advance)
        assert frames == 60 and len(seen) == 60  # 2 wall seconds at 30 frames/s, whatever the speed
        assert seen[-1] == pytest.approx(T0 + speed * 2.0)


def test_live_clock_follows_wall_time_and_refuses_seek():
    src = ManualTimeSource(utc=T0)
    clock = Clock(live=True, source=src)
    seen = []
    clock.subscribe(seen.append)
    src.advance(3.5)
    clock.tick()
    assert seen == [T0 + 3.5]
    with pytest.raises(ValueError, match="live clock"):
        clock.seek(T0)
    with pytest.raises(ValueError, match="forever"):
        clock.run()


def test_unsubscribe_and_times():
    clock, src, seen = make(duration=10)
    sub = clock.subscribe(lambda t: None)
    sub.cancel()
    with pytest.raises(KeyError):
        sub.cancel()
    assert iso(T0) == "2024-05-01T00:00:00Z"
    with pytest.raises(ValueError, match="ISO 8601"):
        to_seconds("yesterday")
