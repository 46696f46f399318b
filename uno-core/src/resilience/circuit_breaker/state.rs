//! The breaker's state machine: admission, outcomes and state changes, under one lock with a
//! lock-free fast path for a closed breaker.
//!
//! # Implementation notes
//!
//! - **One lock for the state** ([`State`]): the phase (closed; open until an instant; half-open
//!   with its probe counts), the epoch and the sliding window change together under one mutex.
//! - **Epochs.** Every state change bumps the epoch and resets the window; an admission carries
//!   the epoch it was admitted in ([`Ticket`]), and its outcome is recorded only while that epoch
//!   is current, so a slow call from an earlier state cannot move the new one.
//! - **A closed breaker admits without the lock**: `closed_epoch` mirrors the epoch while
//!   closed ([`NOT_CLOSED`] otherwise), written under the lock on every change. A call admitted
//!   just before a change carries the old epoch and is ignored, exactly as if it had taken the
//!   lock first.
//! - **Open turns half-open lazily**, at the first admission after its open duration (no timer).
//! - **Probe slots.** Half-open admits a call while `in_flight + successes + failures < probes`.
//!   A probe that reports nothing (dropped, cancelled, refused elsewhere, panicked) gives its slot
//!   back; once every probe has reported, their failure rate closes or reopens the breaker.
//! - **User code runs outside the lock and after the guard exists.** [`Inner::admit`] returns the
//!   state change it made instead of announcing it: the caller wraps the ticket in its permit
//!   first, then calls [`Inner::notify`], so a panicking listener drops the permit, which frees
//!   the probe slot. [`Inner::record`] announces only after releasing the lock.
//! - **The clock is read lazily** ([`LazyNow`]): a closed breaker with a count window and no
//!   slow-call threshold never reads it.

use crate::loom::atomic::{AtomicU64, Ordering};
use crate::loom::{Mutex, MutexGuard};
use std::fmt;
use std::time::{Duration, Instant};

use crate::observe::{Counter, Gauge, Name, event};
use CircuitState::{Closed, HalfOpen, Open};

use super::CircuitBreakerStats;
use super::window::Window;
use crate::resilience::CircuitOpen;
use crate::rt::Runtime;
use crate::time::deadline_after;

/// The three states of a [`CircuitBreaker`](super::CircuitBreaker).
///
/// Displayed as `closed`, `open` and `half-open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls go through; outcomes are recorded in the sliding window.
    Closed,
    /// Calls fail fast with
    /// [`ResilienceError::CircuitOpen`](crate::resilience::ResilienceError::CircuitOpen) without
    /// calling the operation.
    Open,
    /// A limited number of probe calls go through; their outcomes decide between closed and open.
    HalfOpen,
}

impl CircuitState {
    /// The state as a metric label or `tracing` field value: `closed`, `open` or `half_open`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// The value of the `uno_circuit_breaker_state` gauge: 0 closed, 1 half-open, 2 open.
    fn gauge(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::HalfOpen => 1.0,
            CircuitState::Open => 2.0,
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        })
    }
}

/// A state change, as passed to [`on_state_change`](super::CircuitBreakerBuilder::on_state_change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The state left.
    pub from: CircuitState,
    /// The state entered.
    pub to: CircuitState,
}

pub(super) type Listener = dyn Fn(StateChange) + Send + Sync;

/// What a breaker is built with; see [`CircuitBreakerBuilder`](super::CircuitBreakerBuilder).
pub(super) struct Settings {
    pub(super) rt: Runtime,
    pub(super) name: Name,
    pub(super) threshold: f64,
    pub(super) minimum_calls: u32,
    pub(super) open_duration: Duration,
    pub(super) probes: u32,
    pub(super) slow_call: Option<Duration>,
    pub(super) listener: Option<Box<Listener>>,
}

/// The breaker's shared state: its settings, the fast-path epoch, the locked [`State`] and the
/// counters.
pub(crate) struct Inner {
    pub(super) rt: Runtime,
    pub(super) name: Name,
    metrics: Metrics,
    threshold: f64,
    minimum_calls: u32,
    open_duration: Duration,
    probes: u32,
    slow_call: Option<Duration>,
    listener: Option<Box<Listener>>,
    /// The epoch while closed, [`NOT_CLOSED`] otherwise; written under the lock on every state
    /// change. A closed breaker admits calls with this one load instead of the lock: a call
    /// admitted just before a state change carries the old epoch, and its outcome is ignored,
    /// exactly as if it had taken the lock first.
    closed_epoch: AtomicU64,
    state: Mutex<State>,
    counters: Counters,
}

/// The breaker's metric handles, registered once when it is built: one per state change it can
/// make, so a transition is one increment.
struct Metrics {
    state: Gauge,
    rejections: Counter,
    closed_to_open: Counter,
    open_to_half_open: Counter,
    half_open_to_closed: Counter,
    half_open_to_open: Counter,
}

/// The metrics of a circuit breaker (see the module's "Metrics").
pub(crate) const STATE: &str = "uno_circuit_breaker_state";
pub(crate) const TRANSITIONS: &str = "uno_circuit_breaker_transitions_total";

impl Metrics {
    fn new(name: &Name) -> Self {
        let transition = |from: CircuitState, to: CircuitState| {
            Counter::new(
                TRANSITIONS,
                name,
                &[("from", from.label()), ("to", to.label())],
            )
        };
        let rejections = crate::resilience::REJECTIONS;
        let metrics = Metrics {
            state: Gauge::new(STATE, name, &[]),
            rejections: Counter::new(rejections, name, &[("reason", "circuit_open")]),
            closed_to_open: transition(Closed, Open),
            open_to_half_open: transition(Open, HalfOpen),
            half_open_to_closed: transition(HalfOpen, Closed),
            half_open_to_open: transition(HalfOpen, Open),
        };
        metrics.state.set(Closed.gauge());
        metrics
    }

    fn transition(&self, change: StateChange) {
        let counter = match (change.from, change.to) {
            (Closed, Open) => &self.closed_to_open,
            (Open, HalfOpen) => &self.open_to_half_open,
            (HalfOpen, Closed) => &self.half_open_to_closed,
            (HalfOpen, Open) => &self.half_open_to_open,
            _ => return,
        };
        counter.increment(1);
        self.state.set(change.to.gauge());
    }
}

/// `closed_epoch` while the breaker is not closed.
const NOT_CLOSED: u64 = u64::MAX;

/// A clock reading made at most once, when first needed: a closed breaker with a count window
/// and no slow-call threshold records an outcome without reading the clock at all.
pub(super) struct LazyNow<'a> {
    rt: Option<&'a Runtime>,
    now: Option<Instant>,
}

impl<'a> LazyNow<'a> {
    pub(super) fn at(now: Instant) -> Self {
        LazyNow {
            rt: None,
            now: Some(now),
        }
    }

    pub(super) fn from(rt: &'a Runtime) -> Self {
        LazyNow {
            rt: Some(rt),
            now: None,
        }
    }

    pub(super) fn none() -> Self {
        LazyNow {
            rt: None,
            now: None,
        }
    }

    pub(super) fn get(&mut self) -> Instant {
        match (self.now, self.rt) {
            (Some(now), _) => now,
            (None, Some(rt)) => *self.now.insert(rt.now()),
            // Only the "not counted" record, which reads no time, is made without a clock.
            (None, None) => unreachable!("a record that needs the time is given a clock"),
        }
    }
}

/// What an admission needs to report its outcome.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    epoch: u64,
    /// Whether the call holds a half-open probe slot.
    pub(super) probe: bool,
    /// When the call was admitted; taken only with a slow-call threshold.
    pub(super) start: Option<Instant>,
}

#[derive(Default)]
struct Counters {
    successes: AtomicU64,
    failures: AtomicU64,
    slow_calls: AtomicU64,
    rejected: AtomicU64,
    ignored: AtomicU64,
    opened: AtomicU64,
}

struct State {
    phase: Phase,
    /// Bumped on every state change, so outcomes of calls from an earlier state are ignored.
    epoch: u64,
    window: Window,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    HalfOpen {
        in_flight: u32,
        successes: u32,
        failures: u32,
    },
}

impl Phase {
    fn public(&self) -> CircuitState {
        match self {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

impl Phase {
    fn half_open() -> Self {
        Phase::HalfOpen {
            in_flight: 0,
            successes: 0,
            failures: 0,
        }
    }
}

impl Inner {
    pub(super) fn new(settings: Settings, window: Window) -> Self {
        let Settings {
            rt,
            name,
            threshold,
            minimum_calls,
            open_duration,
            probes,
            slow_call,
            listener,
        } = settings;
        let metrics = Metrics::new(&name);
        Inner {
            rt,
            name,
            metrics,
            threshold,
            minimum_calls,
            open_duration,
            probes,
            slow_call,
            listener,
            closed_epoch: AtomicU64::new(0),
            state: Mutex::new(State {
                phase: Phase::Closed,
                epoch: 0,
                window,
            }),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(super) fn state(&self) -> CircuitState {
        self.lock().phase.public()
    }

    pub(super) fn detects_slow_calls(&self) -> bool {
        self.slow_call.is_some()
    }

    pub(super) fn stats(&self) -> CircuitBreakerStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CircuitBreakerStats {
            state: self.state(),
            successes: get(&c.successes),
            failures: get(&c.failures),
            slow_calls: get(&c.slow_calls),
            rejected: get(&c.rejected),
            ignored: get(&c.ignored),
            opened: get(&c.opened),
        }
    }

    /// Admits one call, or refuses it. The clock is read only when the breaker is not closed or
    /// a slow-call threshold needs the start.
    ///
    /// A state change this admission made (open to half-open) is returned, not yet announced: the
    /// caller first wraps the ticket in its guard (whose drop frees the probe slot), then calls
    /// [`notify`](Self::notify), so a panicking listener cannot strand the slot.
    #[must_use = "announce the state change with `notify` once the ticket is guarded"]
    pub(super) fn admit(
        &self,
        now: &mut LazyNow<'_>,
    ) -> Result<(Ticket, Option<StateChange>), CircuitOpen> {
        let epoch = self.closed_epoch.load(Ordering::Acquire);
        if epoch != NOT_CLOSED {
            let ticket = Ticket {
                epoch,
                probe: false,
                start: self.slow_call.map(|_| now.get()),
            };
            return Ok((ticket, None));
        }
        let now = now.get();
        let mut state = self.lock();
        let mut change = None;
        if let Phase::Open { until } = state.phase {
            if now < until {
                drop(state);
                return Err(self.reject(Some(until - now)));
            }
            change = Some(self.enter(&mut state, CircuitState::HalfOpen, &mut LazyNow::at(now)));
        }
        let result = match &mut state.phase {
            Phase::Closed => Ok(false),
            Phase::HalfOpen {
                in_flight,
                successes,
                failures,
            } => {
                if *in_flight + *successes + *failures < self.probes {
                    *in_flight += 1;
                    Ok(true)
                } else {
                    Err(())
                }
            }
            Phase::Open { .. } => unreachable!("left just above"),
        };
        let epoch = state.epoch;
        drop(state);
        match result {
            Ok(probe) => {
                let ticket = Ticket {
                    epoch,
                    probe,
                    start: self.slow_call.map(|_| now),
                };
                Ok((ticket, change))
            }
            Err(()) => {
                let refused = self.reject(None);
                // Nothing is held: announce the change (if any) here; a panic leaves no slot.
                self.notify(change);
                Err(refused)
            }
        }
    }

    /// Counts a refusal and says when a probe would be let through, if known.
    fn reject(&self, retry_after: Option<Duration>) -> CircuitOpen {
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejections.increment(1);
        event!(
            debug,
            "uno_core::resilience",
            name = %self.name,
            reason = "circuit_open",
            ?retry_after,
            "call rejected"
        );
        CircuitOpen {
            name: self.name.shared(),
            retry_after,
        }
    }

    /// Moves to `phase`; returns the change for [`notify`](Self::notify) once the lock is released.
    fn enter(&self, state: &mut State, to: CircuitState, now: &mut LazyNow<'_>) -> StateChange {
        let from = state.phase.public();
        let phase = match to {
            CircuitState::Open => {
                self.counters.opened.fetch_add(1, Ordering::Relaxed);
                Phase::Open {
                    until: deadline_after(now.get(), self.open_duration),
                }
            }
            CircuitState::HalfOpen => Phase::half_open(),
            CircuitState::Closed => Phase::Closed,
        };
        state.phase = phase;
        state.epoch += 1;
        state.window.reset();
        let closed_epoch = match phase {
            Phase::Closed => state.epoch,
            _ => NOT_CLOSED,
        };
        self.closed_epoch.store(closed_epoch, Ordering::Release);
        StateChange {
            from,
            to: phase.public(),
        }
    }

    /// Announces a state change to the `tracing` events and the listener. Called with the lock
    /// released and the change complete, and only once nothing the caller holds (a probe slot)
    /// depends on code after it: a panicking listener then propagates to that caller and leaves
    /// the breaker consistent.
    pub(super) fn notify(&self, change: Option<StateChange>) {
        let Some(change) = change else { return };
        self.metrics.transition(change);
        let (from, to) = (change.from.label(), change.to.label());
        if change.to == Open {
            event!(warn, "uno_core::resilience", name = %self.name, from, to, "circuit breaker opened");
        } else {
            event!(info, "uno_core::resilience", name = %self.name, from, to, "circuit breaker state change");
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (from, to);
        if let Some(listener) = &self.listener {
            listener(change);
        }
    }

    /// Reports one admitted call: `elapsed` (the operation's duration) turns a success slower
    /// than the slow-call threshold into a failure.
    pub(super) fn finish(
        &self,
        ticket: Ticket,
        outcome: Option<bool>,
        now: &mut LazyNow<'_>,
        elapsed: Duration,
    ) {
        let outcome = match (outcome, self.slow_call) {
            (Some(false), Some(limit)) if elapsed >= limit => {
                self.counters.slow_calls.fetch_add(1, Ordering::Relaxed);
                Some(true)
            }
            (outcome, _) => outcome,
        };
        self.record(ticket.epoch, ticket.probe, outcome, now);
    }

    fn record(&self, epoch: u64, probe: bool, outcome: Option<bool>, now: &mut LazyNow<'_>) {
        let mut state = self.lock();
        if state.epoch != epoch {
            drop(state);
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(failed) = outcome else {
            if probe && let Phase::HalfOpen { in_flight, .. } = &mut state.phase {
                *in_flight -= 1;
            }
            drop(state);
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let counter = if failed {
            &self.counters.failures
        } else {
            &self.counters.successes
        };
        // Only ever written under the lock: a plain store, not a read-modify-write.
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let next = match &mut state.phase {
            Phase::Closed => {
                state.window.record(failed, now);
                let (calls, failures) = state.window.totals(now);
                (calls >= self.minimum_calls
                    && f64::from(failures) >= self.threshold * f64::from(calls))
                .then_some(CircuitState::Open)
            }
            Phase::HalfOpen {
                in_flight,
                successes,
                failures,
            } => {
                *in_flight -= 1;
                if failed {
                    *failures += 1;
                } else {
                    *successes += 1;
                }
                let done = *successes + *failures;
                if done >= self.probes {
                    if f64::from(*failures) >= self.threshold * f64::from(done) {
                        Some(CircuitState::Open)
                    } else {
                        Some(CircuitState::Closed)
                    }
                } else {
                    None
                }
            }
            Phase::Open { .. } => None,
        };
        let change = next.map(|to| self.enter(&mut state, to, now));
        drop(state);
        self.notify(change);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::time::{Timer, VirtualClock};

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    /// A breaker over `window`: threshold 0.5, open 30 s, `probes` probes.
    fn breaker(window: Window, minimum_calls: u32, probes: u32) -> Inner {
        breaker_with(window, minimum_calls, probes, None, None)
    }

    fn breaker_with(
        window: Window,
        minimum_calls: u32,
        probes: u32,
        slow_call: Option<Duration>,
        listener: Option<Box<Listener>>,
    ) -> Inner {
        let settings = Settings {
            rt: crate::rt::VirtualRuntime::new().handle(),
            name: Name::kind("circuit_breaker"),
            threshold: 0.5,
            minimum_calls,
            open_duration: 30 * SEC,
            probes,
            slow_call,
            listener,
        };
        Inner::new(settings, window)
    }

    fn t0() -> Instant {
        VirtualClock::new().now()
    }

    /// Admits one call at `at` (announcing a change it made) and returns its ticket.
    fn admit(b: &Inner, at: Instant) -> Result<Ticket, CircuitOpen> {
        let (ticket, change) = b.admit(&mut LazyNow::at(at))?;
        b.notify(change);
        Ok(ticket)
    }

    /// Reports a call admitted at `ticket`: `Some(failed)` or `None`, `took` after its admission.
    fn report(b: &Inner, ticket: Ticket, at: Instant, outcome: Option<bool>, took: Duration) {
        b.finish(ticket, outcome, &mut LazyNow::at(at + took), took);
    }

    /// One call at `at` that ends at once with `outcome`.
    fn call(b: &Inner, at: Instant, outcome: Option<bool>) -> Result<(), CircuitOpen> {
        let ticket = admit(b, at)?;
        report(b, ticket, at, outcome, Duration::ZERO);
        Ok(())
    }

    fn counters(b: &Inner) -> (u64, u64, u64, u64, u64) {
        let s = b.stats();
        (s.successes, s.failures, s.rejected, s.ignored, s.opened)
    }

    /// Makes one call per step (failed or not, ending at once) and checks the state after it.
    fn steps(b: &Inner, steps: &[(Instant, bool, CircuitState, &str)]) {
        for &(at, failed, state, why) in steps {
            call(b, at, Some(failed)).unwrap();
            assert_eq!(b.state(), state, "{why}");
        }
    }

    #[test]
    fn a_count_window_opens_at_the_threshold_over_its_last_calls() {
        let b = breaker(Window::count(4), 4, 3);
        let t = t0();
        steps(
            &b,
            &[
                (t, true, Closed, "1 call: below the minimum"),
                (t, false, Closed, "2 calls"),
                (t, false, Closed, "3 calls"),
                (t, false, Closed, "1 of 4 failed"),
                (t, true, Closed, "the first failure left: still 1 of 4"),
                (t, true, Open, "2 of the last 4 failed"),
            ],
        );
        assert_eq!(counters(&b), (3, 3, 0, 0, 1));
    }

    #[test]
    fn a_time_window_forgets_calls_older_than_the_window() {
        let b = breaker(Window::time(10 * SEC), 2, 3);
        let t = t0();
        let later = t + 11 * SEC;
        steps(
            &b,
            &[
                (t, true, Closed, "1 call"),
                (later, true, Closed, "the first failure slid out"),
                (later + 500 * MS, true, Open, "2 failures within 10 s"),
            ],
        );
    }

    #[test]
    fn minimum_calls_hold_the_rate_back() {
        let b = breaker(Window::count(10), 3, 3);
        let t = t0();
        steps(
            &b,
            &[
                (t, true, Closed, "1 call"),
                (t, true, Closed, "every call failed, but only 2"),
                (t, true, Open, "3 calls, all failed"),
            ],
        );
    }

    #[test]
    fn open_refuses_with_the_time_left_then_turns_half_open_at_the_first_call_after() {
        let b = breaker(Window::count(1), 1, 3);
        let t = t0();
        call(&b, t, Some(true)).unwrap();
        let refused = admit(&b, t + 10 * SEC).unwrap_err();
        assert_eq!(refused.retry_after, Some(20 * SEC));
        assert_eq!(
            b.state(),
            CircuitState::Open,
            "still open until a call arrives"
        );
        let (ticket, change) = b.admit(&mut LazyNow::at(t + 30 * SEC)).unwrap();
        let to_half_open = StateChange {
            from: Open,
            to: HalfOpen,
        };
        assert_eq!(change, Some(to_half_open), "returned, not yet announced");
        assert!(ticket.probe);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(counters(&b).2, 1, "one refusal");
    }

    /// Trips a one-call breaker at `t` and moves it to half-open at `t + 30 s`, returning the
    /// first probe's ticket.
    fn half_open(b: &Inner, t: Instant) -> Ticket {
        call(b, t, Some(true)).unwrap();
        admit(b, t + 30 * SEC).unwrap()
    }

    #[test]
    fn half_open_admits_its_probes_only_and_a_dropped_probe_frees_its_slot() {
        let b = breaker(Window::count(1), 1, 2);
        let t = t0();
        let first = half_open(&b, t);
        let later = t + 31 * SEC;
        let second = admit(&b, later).unwrap();
        let refused = admit(&b, later).unwrap_err();
        assert_eq!(refused.retry_after, None, "every probe slot is taken");
        report(&b, first, later, None, Duration::ZERO); // dropped: counts nothing
        let third = admit(&b, later).expect("the dropped probe's slot is free again");
        report(&b, second, later, Some(false), Duration::ZERO);
        assert_eq!(b.state(), CircuitState::HalfOpen, "one probe still out");
        report(&b, third, later, Some(false), Duration::ZERO);
        assert_eq!(b.state(), CircuitState::Closed, "both probes succeeded");
        let mut now = LazyNow::at(later);
        assert_eq!(b.lock().window.totals(&mut now), (0, 0), "a fresh window");
    }

    #[test]
    fn failing_probes_open_the_breaker_again() {
        let b = breaker(Window::count(1), 1, 2);
        let t = t0();
        let first = half_open(&b, t);
        let later = t + 31 * SEC;
        let second = admit(&b, later).unwrap();
        report(&b, first, later, Some(false), Duration::ZERO);
        report(&b, second, later, Some(true), Duration::ZERO);
        assert_eq!(
            b.state(),
            CircuitState::Open,
            "1 of 2 probes failed: rate 0.5"
        );
        assert_eq!(counters(&b).4, 2, "opened twice");
        let refused = admit(&b, later).unwrap_err();
        assert_eq!(
            refused.retry_after,
            Some(30 * SEC),
            "a full open duration from now"
        );
    }

    #[test]
    fn a_slow_success_is_a_failure() {
        let b = breaker_with(Window::count(2), 2, 3, Some(SEC), None);
        let t = t0();
        let ticket = admit(&b, t).unwrap();
        assert_eq!(
            ticket.start,
            Some(t),
            "a slow-call threshold takes the start"
        );
        report(&b, ticket, t, Some(false), SEC - MS);
        let ticket = admit(&b, t).unwrap();
        report(&b, ticket, t, Some(false), SEC);
        let s = b.stats();
        assert_eq!((s.successes, s.failures, s.slow_calls), (1, 1, 1));
        assert_eq!(b.state(), CircuitState::Open, "1 of 2 failed (slow)");
        // Without a threshold, the start is not even taken.
        let b = breaker(Window::count(2), 2, 3);
        assert_eq!(admit(&b, t).unwrap().start, None);
    }

    #[test]
    fn outcomes_from_an_earlier_state_are_ignored() {
        let b = breaker(Window::count(2), 2, 1);
        let t = t0();
        let stale = admit(&b, t).unwrap();
        call(&b, t, Some(true)).unwrap();
        call(&b, t, Some(true)).unwrap();
        assert_eq!(b.state(), CircuitState::Open);
        report(&b, stale, t, Some(false), Duration::ZERO);
        assert_eq!(
            counters(&b),
            (0, 2, 0, 1, 1),
            "the stale success is ignored"
        );
        // A stale outcome cannot spend a probe slot either.
        let probe = admit(&b, t + 30 * SEC).unwrap();
        report(&b, stale, t + 30 * SEC, Some(false), Duration::ZERO);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        report(&b, probe, t + 30 * SEC, Some(false), Duration::ZERO);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn a_closed_count_window_records_without_reading_the_clock() {
        let b = breaker(Window::count(3), 3, 1);
        for failed in [true, false] {
            // `LazyNow::none()` panics if read: neither admission nor record reads the time.
            let (ticket, change) = b.admit(&mut LazyNow::none()).unwrap();
            assert!(change.is_none() && !ticket.probe);
            b.finish(ticket, Some(failed), &mut LazyNow::none(), Duration::ZERO);
        }
        assert_eq!(counters(&b), (1, 1, 0, 0, 0));
    }

    #[test]
    fn the_listener_hears_every_change_in_order() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let log = heard.clone();
        let listener: Box<Listener> = Box::new(move |change| log.lock().push(change));
        let b = breaker_with(Window::count(1), 1, 1, None, Some(listener));
        let t = t0();
        let probe = half_open(&b, t);
        report(&b, probe, t + 30 * SEC, Some(false), Duration::ZERO);
        let change = |from, to| StateChange { from, to };
        assert_eq!(
            *heard.lock(),
            [
                change(Closed, Open),
                change(Open, HalfOpen),
                change(HalfOpen, Closed)
            ]
        );
    }
}
