//! The GCRA maths (the generic cell rate algorithm): a token bucket kept as one theoretical
//! arrival time (`tat`), exact over the whole range of `Instant` and `Duration`.
//!
//! # Implementation notes
//!
//! - **One step** ([`Gcra::step`]): at `now`, the arrival time is first raised to `now` (that is
//!   what keeps an idle limiter from saving up more than its burst); an admission conforms if
//!   the arrival time then runs at most `tolerance = interval × (burst − 1)` ahead of `now`, and
//!   moves it on by one `interval`. A refusal says how long until one would conform.
//! - **Exact arithmetic.** Times are signed nanoseconds from `origin`, the first instant the
//!   limiter saw (a clock reading through the [`Runtime`](crate::rt::Runtime), so virtual time
//!   works; signed because another caller may have read the clock a little earlier), computed in
//!   `i128`. No sum can overflow: a reading is a `Duration` away from the origin
//!   (|now| < 2⁹⁵ ns), the interval is at most `Duration::MAX` (< 2⁹⁵ ns), the tolerance at most
//!   that times `u32::MAX` (< 2¹²⁷ ns), and an admission at `now` leaves
//!   `tat ≤ now + tolerance + interval`, below `i128::MAX`. Nothing is clamped.
//! - **Lock-free while it fits.** The state lives in one `AtomicI64` while it fits there — for
//!   292 years around the origin, so always on a real clock — and an admission is one
//!   compare-and-swap on it. An admission whose arrival time does not fit (a virtual clock moved
//!   centuries ahead, or a tolerance of centuries) moves the state under the `locked` mutex for
//!   good: the atomic then holds [`LOCKED`], taken by one `swap` under that mutex, so a
//!   compare-and-swap prepared from an older value fails and retries into the locked path. No
//!   admission is lost or made twice by the move.

use crate::loom::atomic::{AtomicI64, Ordering};
use crate::loom::{Mutex, MutexGuard};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::rt::Runtime;
use crate::time::MonotonicClock;

/// One GCRA step at `now` from the arrival time `tat`, for an emission `interval` and a
/// `tolerance` (all in nanoseconds from one origin): the next arrival time if one admission
/// conforms, else the nanoseconds until one would. The whole algorithm; [`Gcra`] keeps its state
/// for one limit, the keyed limiter one `tat` per key.
pub(super) fn step(tat: i128, now: i128, interval: i128, tolerance: i128) -> Result<i128, i128> {
    // `max(now)` is what keeps an idle limiter from saving up more than its burst.
    let tat = tat.max(now);
    let ahead = tat - now;
    if ahead > tolerance {
        Err(ahead - tolerance)
    } else {
        Ok(tat + interval)
    }
}

/// Gives back one unused admission: the arrival time moves back one `interval`, but never below
/// `now` (a refund cannot save up more than the burst, as [`step`]'s `max(now)` ensures) and not
/// at all when nothing is outstanding (`tat <= now`).
pub(super) fn unstep(tat: i128, now: i128, interval: i128) -> i128 {
    if tat <= now {
        tat
    } else {
        (tat - interval).max(now)
    }
}

/// Where a limiter reads the time, fixed when it is built so readings never mix two bases:
/// the timer's [`MonotonicClock`] if it lends one (real runtimes: a calibrated CPU counter, no
/// call through the timer object, no `Instant` arithmetic), else the timer's `now()` as signed
/// nanoseconds from the first reading (virtual time, or a timer with no cheaper clock).
pub(super) enum Clock {
    Monotonic(MonotonicClock),
    Timer(Origin),
}

impl Clock {
    /// The clock for a limiter on `rt`.
    pub(super) fn of(rt: &Runtime) -> Self {
        match rt.timer().monotonic_clock() {
            Some(clock) => Clock::Monotonic(clock),
            None => Clock::Timer(Origin::default()),
        }
    }

    /// Now, in nanoseconds on this clock.
    #[inline]
    pub(super) fn now(&self, rt: &Runtime) -> i128 {
        self.read(rt).0
    }

    /// A reading the caller already made on `rt`'s timer, in nanoseconds on this clock: the
    /// monotonic clock is read afresh instead (the same "now", on the limiter's own base).
    #[inline]
    pub(super) fn at(&self, now: Instant) -> i128 {
        match self {
            Clock::Monotonic(clock) => i128::from(clock.now_nanos()),
            Clock::Timer(origin) => origin.at(now),
        }
    }

    /// Now, in nanoseconds on this clock, and as the timer's instant when the timer was read
    /// (so a deadline derived from it is exact on virtual time).
    #[inline]
    pub(super) fn read(&self, rt: &Runtime) -> (i128, Option<Instant>) {
        match self {
            Clock::Monotonic(clock) => (i128::from(clock.now_nanos()), None),
            Clock::Timer(origin) => {
                let now = rt.now();
                (origin.at(now), Some(now))
            }
        }
    }
}

/// The first instant a limiter saw: clock readings become signed nanoseconds from it.
#[derive(Default)]
pub(super) struct Origin(OnceLock<Instant>);

impl Origin {
    /// `now` as nanoseconds from the origin (the first reading asked about).
    pub(super) fn at(&self, now: Instant) -> i128 {
        let origin = *self.0.get_or_init(|| now);
        match now.checked_duration_since(origin) {
            Some(after) => nanos(after),
            None => -nanos(origin - now),
        }
    }
}

/// The GCRA state of one limiter: its arrival time, wherever it lives (see the module notes).
pub(super) struct Gcra {
    clock: Clock,
    /// The arrival time while it fits: strictly between [`NEVER`] and [`LOCKED`], or one of them.
    tat: AtomicI64,
    /// The arrival time once it has moved here ([`NEVER_LOCKED`] before the first admission).
    locked: Mutex<i128>,
    /// The emission interval in nanoseconds (at least 1).
    interval: i128,
    /// How far ahead of now the arrival time may run: `interval × (burst − 1)`.
    tolerance: i128,
    /// `interval` and `tolerance` in `i64`, when both fit (always, short of centuries): the
    /// common admission then runs in `i64`, and only what overflows it takes the exact path.
    narrow: Option<(i64, i64)>,
}

/// The arrival time before the first admission, in the atomic: `max(NEVER, now) = now`.
const NEVER: i64 = i64::MIN;

/// In the atomic: the arrival time has moved to [`Gcra::locked`].
const LOCKED: i64 = i64::MAX;

/// [`NEVER`] under the lock, below every reading.
const NEVER_LOCKED: i128 = i128::MIN;

/// `d` in nanoseconds: exact (at most about 1.8 × 10²⁸, far below `i128::MAX`).
pub(super) fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

/// Nanoseconds as a `Duration`: zero for a negative value, `Duration::MAX` beyond it.
pub(super) fn duration(nanos: i128) -> Duration {
    let nanos = u128::try_from(nanos).unwrap_or(0);
    match u64::try_from(nanos / 1_000_000_000) {
        Ok(secs) => Duration::new(secs, (nanos % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

/// A nanosecond count computed from a `Duration` (at most `Duration::MAX` times `u32::MAX`, so
/// below `i128::MAX`).
pub(super) fn nanos_of(n: u128) -> i128 {
    i128::try_from(n).unwrap_or(i128::MAX)
}

/// An arrival time from the atomic, widened (never `LOCKED`).
fn widen(tat: i64) -> i128 {
    if tat == NEVER {
        NEVER_LOCKED
    } else {
        i128::from(tat)
    }
}

impl Gcra {
    /// A limiter state for an interval and a tolerance in nanoseconds (`interval ≥ 1`,
    /// `tolerance ≥ 0`, both within the bounds above).
    pub(super) fn new(interval: i128, tolerance: i128, clock: Clock) -> Self {
        Gcra {
            clock,
            tat: AtomicI64::new(NEVER),
            locked: Mutex::new(NEVER_LOCKED),
            interval,
            tolerance,
            narrow: i64::try_from(interval)
                .ok()
                .zip(i64::try_from(tolerance).ok()),
        }
    }

    /// Moves the arrival time in the atomic from `current` to `next`, or returns the value found
    /// there instead (a compare-and-swap that may fail spuriously: callers retry in a loop).
    /// Relaxed: see [`try_admit`](Self::try_admit).
    #[inline]
    fn move_tat(&self, current: i64, next: i64) -> Result<(), i64> {
        self.tat
            .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            .map(drop)
    }

    /// [`step`] in `i64`, from the atomic's value (`NEVER` included: `max(NEVER, now) = now`),
    /// or `None` where it would overflow or land on a marker (the exact path decides then).
    #[inline]
    fn step_narrow(&self, current: i64, now: i64) -> Option<Result<i64, i64>> {
        let (interval, tolerance) = self.narrow?;
        let tat = current.max(now);
        let ahead = tat.checked_sub(now)?;
        if ahead > tolerance {
            return Some(Err(ahead - tolerance));
        }
        let next = tat.checked_add(interval)?;
        (next != LOCKED).then_some(Ok(next))
    }

    /// The limiter's clock.
    pub(super) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// One GCRA step at `now` from the arrival time `tat`: the next arrival time if one admission
    /// conforms, else the nanoseconds until one would.
    fn step(&self, tat: i128, now: i128) -> Result<i128, i128> {
        step(tat, now, self.interval, self.tolerance)
    }

    /// Admits one at `now` if it conforms (and moves the arrival time), else says how long to
    /// wait. Relaxed is enough: the arrival time publishes no other data, and the CAS orders every
    /// admission in the single modification order of `tat`, which is all the rate bound needs
    /// (each admission conforms at its own clock reading and moves `tat` by a full interval).
    #[inline]
    pub(super) fn try_admit(&self, now: i128) -> Result<(), Duration> {
        let mut current = self.tat.load(Ordering::Relaxed);
        if let Ok(narrow_now) = i64::try_from(now) {
            while current != LOCKED {
                let Some(next) = self.step_narrow(current, narrow_now) else {
                    break;
                };
                let next = next.map_err(|wait| duration(i128::from(wait)))?;
                match self.move_tat(current, next) {
                    Ok(()) => return Ok(()),
                    Err(actual) => current = actual,
                }
            }
        }
        self.try_admit_wide(current, now)
    }

    /// [`try_admit`](Self::try_admit) in exact `i128`, from the atomic's value `current`: for
    /// readings, intervals or arrival times beyond `i64`, and once the state is locked.
    #[cold]
    fn try_admit_wide(&self, mut current: i64, now: i128) -> Result<(), Duration> {
        loop {
            if current == LOCKED {
                return self.try_admit_locked(now);
            }
            let next = self.step(widen(current), now).map_err(duration)?;
            let Some(next) = i64::try_from(next)
                .ok()
                .filter(|&next| next != NEVER && next != LOCKED)
            else {
                // The arrival time no longer fits the atomic: on under the lock, exactly.
                return self.try_admit_locked(now);
            };
            match self.move_tat(current, next) {
                Ok(()) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives back one admission taken and not used, at `now` (see [`unstep`]).
    pub(super) fn refund(&self, now: i128) {
        let mut current = self.tat.load(Ordering::Relaxed);
        loop {
            if current == LOCKED {
                let mut tat = self.lock();
                *tat = unstep(*tat, now, self.interval);
                return;
            }
            let tat = widen(current);
            let next = unstep(tat, now, self.interval);
            if next == tat {
                return;
            }
            // `now < next < tat`, and `tat` fits: so does `next`, unless it is a marker.
            let Some(next) = i64::try_from(next)
                .ok()
                .filter(|&next| next != NEVER && next != LOCKED)
            else {
                let mut tat = self.lock();
                *tat = unstep(*tat, now, self.interval);
                return;
            };
            match self.move_tat(current, next) {
                Ok(()) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// [`try_admit`](Self::try_admit) on the locked state.
    fn try_admit_locked(&self, now: i128) -> Result<(), Duration> {
        let mut tat = self.lock();
        let next = self.step(*tat, now).map_err(duration)?;
        *tat = next;
        Ok(())
    }

    /// The locked state, moving the arrival time out of the atomic first if it is still there.
    fn lock(&self) -> MutexGuard<'_, i128> {
        // Nothing panics while it is held: poisoning cannot happen, but is harmless.
        let mut locked = self.locked.lock();
        let fast = self.tat.swap(LOCKED, Ordering::Relaxed);
        if fast != LOCKED {
            *locked = widen(fast);
        }
        locked
    }

    /// How long until one admission conforms, at `now`.
    pub(super) fn wait(&self, now: i128) -> Duration {
        let current = self.tat.load(Ordering::Relaxed);
        let tat = if current == LOCKED {
            *self.lock()
        } else {
            widen(current)
        };
        duration(tat.max(now) - now - self.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const SEC: i128 = 1_000_000_000;
    const YEAR: i128 = 365 * 86_400 * SEC;

    /// A limiter of one admission per `interval`, `burst` at once.
    fn gcra(interval: i128, burst: u32) -> Gcra {
        Gcra::new(
            interval,
            interval * i128::from(burst - 1),
            Clock::Timer(Origin::default()),
        )
    }

    /// The arrival time, wherever it lives.
    fn tat(g: &Gcra) -> i128 {
        match g.tat.load(Ordering::Relaxed) {
            LOCKED => *g.lock(),
            fast => widen(fast),
        }
    }

    fn is_locked(g: &Gcra) -> bool {
        g.tat.load(Ordering::Relaxed) == LOCKED
    }

    /// Admits at `now` until refused; returns the count and the refusal's wait.
    fn drain(g: &Gcra, now: i128) -> (u64, Duration) {
        let mut admitted = 0;
        loop {
            match g.try_admit(now) {
                Ok(()) => admitted += 1,
                Err(wait) => return (admitted, wait),
            }
        }
    }

    /// The reference: the same step in plain `i128`, no atomic, no lock.
    fn reference(interval: i128, burst: u32, readings: &[i128]) -> Vec<Result<(), Duration>> {
        let tolerance = interval * i128::from(burst - 1);
        let mut tat = i128::MIN;
        readings
            .iter()
            .map(|&now| {
                let t = tat.max(now);
                if t - now > tolerance {
                    Err(duration(t - now - tolerance))
                } else {
                    tat = t + interval;
                    Ok(())
                }
            })
            .collect()
    }

    #[test]
    fn a_refund_gives_back_one_admission_and_never_more_than_the_burst() {
        let g = gcra(10, 2);
        assert_eq!(drain(&g, 0).0, 2);
        g.refund(0);
        assert!(
            g.try_admit(0).is_ok(),
            "the refunded admission is taken again"
        );
        assert!(g.try_admit(0).is_err());
        // Idle: nothing is outstanding, so refunds change nothing.
        g.refund(1_000);
        g.refund(1_000);
        assert_eq!(drain(&g, 1_000).0, 2, "no more than the burst");
        assert_eq!(unstep(5, 10, 3), 5);
        assert_eq!(unstep(30, 10, 3), 27);
        assert_eq!(unstep(12, 10, 3), 10);
    }

    #[test]
    fn a_year_long_interval_admits_its_whole_burst() {
        let g = gcra(YEAR, 100);
        let (admitted, wait) = drain(&g, 0);
        assert_eq!(admitted, 100);
        assert_eq!(wait, duration(YEAR));
        assert!(!is_locked(&g), "100 years ahead still fits the atomic");
        assert_eq!(g.try_admit(YEAR - 1), Err(Duration::from_nanos(1)));
        assert_eq!(g.try_admit(YEAR), Ok(()));
        // 100 a year spread over the year: the same burst.
        let g = gcra(YEAR / 100, 100);
        assert_eq!(drain(&g, 0).0, 100);
    }

    #[test]
    fn a_burst_of_centuries_is_exact_under_the_lock() {
        // One a year, a thousand at once: the arrival time runs 1000 years ahead (past i64).
        let g = gcra(YEAR, 1000);
        let (admitted, wait) = drain(&g, 0);
        assert_eq!(admitted, 1000);
        assert_eq!(wait, duration(YEAR));
        assert!(is_locked(&g));
        assert_eq!(tat(&g), 1000 * YEAR);
        assert_eq!(g.wait(0), duration(YEAR));
        assert_eq!(g.wait(YEAR), Duration::ZERO);
        assert_eq!(g.try_admit(YEAR), Ok(()));
        assert_eq!(g.try_admit(YEAR), Err(duration(YEAR)));
    }

    #[test]
    fn the_longest_interval_and_the_largest_burst() {
        let max = nanos(Duration::MAX);
        let g = gcra(max, 3);
        assert_eq!(drain(&g, 0), (3, Duration::MAX));
        assert_eq!(g.try_admit(max - 1), Err(Duration::from_nanos(1)));
        assert_eq!(g.try_admit(max), Ok(()));
        let g = gcra(max, u32::MAX);
        for _ in 0..1000 {
            assert_eq!(g.try_admit(0), Ok(()));
        }
        assert_eq!(tat(&g), 1000 * max);
        assert_eq!(g.wait(0), Duration::ZERO, "billions more fit in the burst");
        // The furthest the arrival time can run: the whole burst at the latest reading.
        *g.lock() = max + g.tolerance;
        assert_eq!(g.try_admit(max), Ok(()));
        assert_eq!(tat(&g), max + g.tolerance + max);
        assert_eq!(g.try_admit(max), Err(Duration::MAX));
        assert_eq!(
            g.wait(-max),
            Duration::MAX,
            "a reading from before: saturates"
        );
    }

    #[test]
    fn huge_clock_jumps_change_nothing_but_the_time() {
        let g = gcra(100_000_000, 2); // ten a second, two at once
        assert_eq!(drain(&g, 0), (2, Duration::from_millis(100)));
        for jump in [1 << 62, 1 << 63, 1 << 64, 1 << 90, nanos(Duration::MAX)] {
            assert_eq!(drain(&g, jump), (2, Duration::from_millis(100)), "{jump}");
            assert_eq!(g.wait(jump), Duration::from_millis(100));
            assert_eq!(g.try_admit(jump + 100_000_000), Ok(()));
            assert_eq!(g.wait(jump + 100_000_000), Duration::from_millis(100));
        }
        assert!(is_locked(&g));
    }

    #[test]
    fn readings_before_the_origin() {
        let g = gcra(SEC, 1);
        assert_eq!(g.try_admit(-5 * SEC), Ok(()));
        assert_eq!(g.try_admit(-5 * SEC), Err(Duration::from_secs(1)));
        assert_eq!(g.try_admit(0), Ok(()));
        // Far before: an empty limiter admits, whatever the reading.
        let g = gcra(SEC, 1);
        let long_ago = -nanos(Duration::MAX);
        assert_eq!(g.try_admit(long_ago), Ok(()));
        assert!(
            is_locked(&g),
            "an arrival time below i64 moves under the lock"
        );
        assert_eq!(g.try_admit(long_ago), Err(Duration::from_secs(1)));
        assert_eq!(g.try_admit(0), Ok(()));
    }

    #[test]
    fn the_move_under_the_lock_matches_the_reference() {
        let edge = i128::from(i64::MAX);
        let cases: [(i128, u32, Vec<i128>); 4] = [
            // Readings walking across the end of the atomic's range, one interval at a time.
            (
                SEC,
                3,
                (0..12).map(|i| edge - 6 * SEC + i * SEC / 2).collect(),
            ),
            // Back and forth around the edge, some refused.
            (
                SEC,
                2,
                vec![
                    0,
                    edge - SEC,
                    edge - SEC,
                    edge,
                    edge - 2 * SEC,
                    edge + SEC,
                    0,
                ],
            ),
            // Huge interval from the start: the first admission already leaves the atomic.
            (1 << 70, 2, vec![0, 0, 0, 1 << 70, (1 << 70) - 1, 1 << 71]),
            // Below the atomic's range.
            (
                SEC,
                2,
                vec![
                    -edge - 3 * SEC,
                    -edge - 3 * SEC,
                    -edge - 3 * SEC,
                    -edge,
                    0,
                    0,
                    0,
                ],
            ),
        ];
        for (interval, burst, readings) in cases {
            let g = gcra(interval, burst);
            let got: Vec<_> = readings.iter().map(|&now| g.try_admit(now)).collect();
            assert_eq!(
                got,
                reference(interval, burst, &readings),
                "{interval} {burst}"
            );
        }
    }

    #[test]
    fn clones_racing_across_the_move_lose_and_double_nothing() {
        // A tolerance so large that nothing is refused: each admission moves the arrival time by
        // exactly one, and from just below the atomic's edge the racing threads cross it.
        let g = Arc::new(Gcra::new(1, i128::MAX / 4, Clock::Timer(Origin::default())));
        g.tat.store(i64::MAX - 2_000, Ordering::Relaxed);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        g.try_admit(0).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(is_locked(&g));
        assert_eq!(tat(&g), i128::from(i64::MAX) - 2_000 + 4000);
    }
}
