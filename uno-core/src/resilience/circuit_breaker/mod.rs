//! The circuit breaker: stop calling a failing dependency for a while, then probe it.

mod window;

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::loom::atomic::{AtomicU64, Ordering};
use crate::loom::{Arc, Mutex, MutexGuard};
use crate::resilience::{CircuitOpen, ConfigError, ResilienceError};
use crate::rt::Runtime;
use crate::time::deadline_after;

use window::Window;

/// The three states of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls go through; outcomes are recorded in the sliding window.
    Closed,
    /// Calls fail fast with [`ResilienceError::CircuitOpen`] without calling the operation.
    Open,
    /// A limited number of probe calls go through; their outcomes decide between closed and open.
    HalfOpen,
}

/// A state change, as passed to [`on_state_change`](CircuitBreakerBuilder::on_state_change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state left.
    pub from: CircuitState,
    /// The state entered.
    pub to: CircuitState,
}

type Listener = dyn Fn(StateChange) + Send + Sync;

/// A circuit breaker: closed / open / half-open over a failure rate.
///
/// - **Closed**: outcomes go into a sliding window, count-based (the last *n* calls) or
///   time-based (the calls of the last *d*, sliding in steps of *d*/10). Once it holds at least
///   `minimum_calls` and the failure rate reaches `failure_rate_threshold`, the breaker opens.
/// - **Open** for `open_duration`: calls fail fast with [`CircuitOpen`] and the operation is not
///   called. The next call after that moves it to half-open.
/// - **Half-open**: `half_open_probes` calls go through, each holding a probe slot in its
///   [`BreakerPermit`]. When all have reported, a failure rate below the threshold closes the
///   breaker (with a fresh window), otherwise it opens again. A probe dropped without reporting
///   (its future was dropped) frees its slot for another caller, so half-open never wedges.
///
/// Failures are operation errors ([`ResilienceError::Inner`]) and timeouts; with
/// [`slow_call`](CircuitBreakerBuilder::slow_call), a success slower than the threshold too.
/// Cancellations and other policies' refusals are not counted. Outcomes of calls admitted before
/// the last state change are ignored.
///
/// Clones share the state. State changes go to the
/// [`on_state_change`](CircuitBreakerBuilder::on_state_change) listener (called outside the
/// breaker's lock) and to the `tracing` feature's events.
///
/// # Panics
///
/// User code never wedges the breaker:
/// - A panicking **listener** panics the caller whose call made the change (`run`, `run_flat`,
///   `try_acquire`, [`BreakerPermit::success`]/[`failure`](BreakerPermit::failure), a
///   [`Pipeline`](super::Pipeline)), with the listener's payload, and only after the change is
///   complete: the breaker is in its new state, and a probe slot that caller was being given is
///   freed again (a `try_acquire` that panics this way hands out no permit). The listener is
///   called again at the next change.
/// - A panicking **operation** (the closure, its future's `poll` or its `Drop`) propagates out of
///   `run` unchanged; the call counts as neither success nor failure (as a dropped call) and its
///   probe slot is freed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::resilience::{CircuitBreaker, CircuitState, ResilienceError};
/// use uno_core::rt::VirtualRuntime;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let breaker = CircuitBreaker::builder()
///     .count_window(4)
///     .minimum_calls(2)
///     .failure_rate_threshold(0.5)
///     .open_duration(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// vrt.block_on(async move {
///     for _ in 0..2 {
///         let _ = breaker.run(&rt, || async { Err::<(), _>("down") }).await;
///     }
///     assert_eq!(breaker.state(), CircuitState::Open);
///     let err = breaker.run(&rt, || async { Ok::<_, &str>(()) }).await.unwrap_err();
///     assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
///
///     rt.sleep(Duration::from_secs(30)).await;
///     breaker.run(&rt, || async { Ok::<_, &str>(()) }).await.unwrap(); // a probe
///     assert_eq!(breaker.state(), CircuitState::HalfOpen); // three probes by default
/// });
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
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

const NOT_CLOSED: u64 = u64::MAX;

/// A clock reading made at most once, when first needed: a closed breaker with a count window
/// and no slow-call threshold records an outcome without reading the clock at all.
pub(super) struct LazyNow<'a> {
    rt: Option<&'a Runtime>,
    now: Option<Instant>,
}

impl<'a> LazyNow<'a> {
    fn at(now: Instant) -> Self {
        LazyNow {
            rt: None,
            now: Some(now),
        }
    }

    fn from(rt: &'a Runtime) -> Self {
        LazyNow {
            rt: Some(rt),
            now: None,
        }
    }

    fn none() -> Self {
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
struct Ticket {
    epoch: u64,
    probe: bool,
    /// When the call was admitted; read only with a slow-call threshold or by `try_acquire`.
    start: Option<Instant>,
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

/// A snapshot of a [`CircuitBreaker`]'s state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CircuitBreakerStats {
    /// The state now (an open breaker whose open duration has passed still reads `Open` until
    /// the next call).
    pub state: CircuitState,
    /// Calls recorded as successes.
    pub successes: u64,
    /// Calls recorded as failures (slow calls included).
    pub failures: u64,
    /// Successful calls counted as failures for being slow.
    pub slow_calls: u64,
    /// Calls refused without calling the operation.
    pub rejected: u64,
    /// Admitted calls whose outcome was not counted (dropped, cancelled, refused by another
    /// policy, or admitted before a state change).
    pub ignored: u64,
    /// Times the breaker opened.
    pub opened: u64,
}

/// Builds a [`CircuitBreaker`]; from [`CircuitBreaker::builder`].
pub struct CircuitBreakerBuilder {
    threshold: f64,
    window: WindowKind,
    minimum_calls: u32,
    open_duration: Duration,
    probes: u32,
    slow_call: Option<Duration>,
    listener: Option<Box<Listener>>,
}

#[derive(Debug, Clone, Copy)]
enum WindowKind {
    Count(u32),
    Time(Duration),
}

impl CircuitBreaker {
    /// A builder with the defaults: a count window of 20 calls, at least 10 calls, threshold 0.5,
    /// open for 30 s, 3 half-open probes, no slow-call detection.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    ///
    /// let breaker = CircuitBreaker::builder().build().unwrap(); // the defaults
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// let err = CircuitBreaker::builder().count_window(5).build().unwrap_err();
    /// assert_eq!(err, ConfigError::MinimumCallsExceedWindow { minimum_calls: 10, window: 5 });
    /// ```
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            threshold: 0.5,
            window: WindowKind::Count(20),
            minimum_calls: 10,
            open_duration: Duration::from_secs(30),
            probes: 3,
            slow_call: None,
            listener: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    /// The current state.
    ///
    /// An open breaker moves to half-open lazily, when the first call after `open_duration`
    /// arrives: until then this still reads [`CircuitState::Open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder().count_window(1).minimum_calls(1).build().unwrap();
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// breaker.try_acquire(&rt).unwrap().failure(&rt); // 1 of 1 calls failed
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// ```
    pub fn state(&self) -> CircuitState {
        self.lock().phase.public()
    }

    /// Asks to make one call: a [`BreakerPermit`] to report its outcome with, or [`CircuitOpen`]
    /// (the call must not be made).
    ///
    /// # Errors
    ///
    /// [`CircuitOpen`] while open (with the time left) or while half-open with every probe slot
    /// taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitOpen, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder().count_window(2).minimum_calls(2).build().unwrap();
    /// for _ in 0..2 {
    ///     let permit = breaker.try_acquire(&rt).unwrap();
    ///     // … make the call, then report how it went:
    ///     permit.failure(&rt);
    /// }
    /// let refused = breaker.try_acquire(&rt).unwrap_err(); // do not make the call
    /// assert_eq!(refused, CircuitOpen { retry_after: Some(Duration::from_secs(30)) });
    /// ```
    pub fn try_acquire(&self, rt: &Runtime) -> Result<BreakerPermit, CircuitOpen> {
        let now = rt.now();
        let (ticket, change) = self.inner.admit(rt, Some(now))?;
        let permit = BreakerPermit {
            inner: self.inner.clone(),
            ticket: Ticket {
                start: Some(now),
                ..ticket
            },
            done: false,
        };
        // Only once the permit exists: if the listener panics, dropping the permit frees the
        // probe slot it holds.
        self.inner.notify(change);
        Ok(permit)
    }

    /// [`try_acquire`](Self::try_acquire) for a call made within the caller's own future: the
    /// admission borrows the breaker. `now` is a clock reading the caller already made, if any.
    pub(crate) fn admit<'a>(
        &'a self,
        rt: &Runtime,
        now: Option<Instant>,
    ) -> Result<Admission<'a>, CircuitOpen> {
        let (ticket, change) = self.inner.admit(rt, now)?;
        let admission = Admission {
            inner: &self.inner,
            ticket,
            done: false,
        };
        // As in `try_acquire`: the admission's drop frees its probe slot if the listener panics.
        self.inner.notify(change);
        Ok(admission)
    }

    /// Runs `op` if the breaker allows it, and records its outcome.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::CircuitOpen`] (the operation was not called) or
    /// [`ResilienceError::Inner`] for the operation's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the operation; its outcome is not counted and a probe slot it
    /// held is freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ResilienceError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder().count_window(2).minimum_calls(2).build().unwrap();
    /// assert_eq!(breaker.run(&rt, || async { Ok::<_, &str>(1) }).await, Ok(1));
    /// let failed = breaker.run(&rt, || async { Err::<i32, _>("503") }).await;
    /// assert_eq!(failed, Err(ResilienceError::Inner("503"))); // 1 of 2 failed: rate 0.5
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// let mut called = false;
    /// let refused = breaker.run(&rt, || { called = true; async { Ok::<_, &str>(1) } }).await;
    /// assert!(refused.unwrap_err().is_rejected() && !called);
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_flat(rt, || async { op().await.map_err(ResilienceError::Inner) })
            .await
    }

    /// As [`run`](Self::run), for an operation that already returns a [`ResilienceError`]:
    /// `Inner` errors and timeouts count as failures, other errors are not counted.
    ///
    /// # Errors
    ///
    /// [`ResilienceError::CircuitOpen`], or the operation's errors as they are.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, TimeoutPolicy};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder().count_window(1).minimum_calls(1).build().unwrap();
    /// let limit = TimeoutPolicy::new(Duration::from_secs(2), "health check").unwrap();
    /// let out: Result<(), _> = breaker
    ///     .run_flat(&rt, || limit.run(&rt, || std::future::pending::<Result<(), ()>>()))
    ///     .await;
    /// assert!(out.unwrap_err().is_timeout());
    /// assert_eq!(breaker.state(), CircuitState::Open); // a timeout counts as a failure
    /// # });
    /// ```
    pub async fn run_flat<T, E, F, Fut>(&self, rt: &Runtime, op: F) -> Result<T, ResilienceError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ResilienceError<E>>>,
    {
        let admission = self.admit(rt, None)?;
        let result = op().await;
        admission.record_result(&result, rt, None);
        result
    }

    /// A snapshot of the state and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder().count_window(2).minimum_calls(2).build().unwrap();
    /// breaker.try_acquire(&rt).unwrap().success(&rt);
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// drop(breaker.try_acquire(&rt)); // refused: the breaker opened
    /// let stats = breaker.stats();
    /// assert_eq!((stats.successes, stats.failures, stats.rejected, stats.opened), (1, 1, 1, 1));
    /// assert_eq!(stats.state, CircuitState::Open);
    /// ```
    pub fn stats(&self) -> CircuitBreakerStats {
        let c = &self.inner.counters;
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

    /// Whether a slow-call threshold is configured.
    pub(crate) fn detects_slow_calls(&self) -> bool {
        self.inner.slow_call.is_some()
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
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Admits one call, or refuses it. The clock is read (or `now` used) only when the breaker
    /// is not closed or a slow-call threshold needs the start.
    ///
    /// A state change this admission made (open to half-open) is returned, not yet announced: the
    /// caller first wraps the ticket in its guard (whose drop frees the probe slot), then calls
    /// [`notify`](Self::notify), so a panicking listener cannot strand the slot.
    #[must_use = "announce the state change with `notify` once the ticket is guarded"]
    fn admit(
        &self,
        rt: &Runtime,
        now: Option<Instant>,
    ) -> Result<(Ticket, Option<StateChange>), CircuitOpen> {
        let epoch = self.closed_epoch.load(Ordering::Acquire);
        if epoch != NOT_CLOSED {
            let ticket = Ticket {
                epoch,
                probe: false,
                start: self.slow_call.map(|_| now.unwrap_or_else(|| rt.now())),
            };
            return Ok((ticket, None));
        }
        let now = now.unwrap_or_else(|| rt.now());
        let mut state = self.lock();
        let mut change = None;
        if let Phase::Open { until } = state.phase {
            if now < until {
                drop(state);
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(CircuitOpen {
                    retry_after: Some(until - now),
                });
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
                    Err(CircuitOpen { retry_after: None })
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
            Err(e) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                // Nothing is held: announce the change (if any) here; a panic leaves no slot.
                self.notify(change);
                Err(e)
            }
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
    fn notify(&self, change: Option<StateChange>) {
        let Some(change) = change else { return };
        super::event!(from = ?change.from, to = ?change.to, "circuit breaker state change");
        if let Some(listener) = &self.listener {
            listener(change);
        }
    }

    /// Reports one admitted call: `elapsed` (the operation's duration) turns a success slower
    /// than the slow-call threshold into a failure.
    fn finish(
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

/// Permission to make one call through a [`CircuitBreaker`]; report the outcome with
/// [`success`](Self::success) or [`failure`](Self::failure).
///
/// Dropping it without reporting (for example because the caller's future was dropped) counts
/// nothing and frees the probe slot it may hold.
#[must_use = "report the call's outcome with success() or failure()"]
pub struct BreakerPermit {
    inner: Arc<Inner>,
    ticket: Ticket,
    done: bool,
}

impl BreakerPermit {
    /// The call succeeded (a failure if slower than the slow-call threshold, measured from the
    /// permit's creation).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::CircuitBreaker;
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder().slow_call(Duration::from_secs(1)).build().unwrap();
    /// breaker.try_acquire(&rt).unwrap().success(&rt);
    /// let permit = breaker.try_acquire(&rt).unwrap();
    /// vrt.clock().advance(Duration::from_secs(3)); // the call takes 3 s
    /// permit.success(&rt);
    /// let stats = breaker.stats();
    /// assert_eq!((stats.successes, stats.failures, stats.slow_calls), (1, 1, 1));
    /// ```
    pub fn success(mut self, rt: &Runtime) {
        self.done = true;
        let now = rt.now();
        let elapsed = self
            .ticket
            .start
            .map_or(Duration::ZERO, |start| now.saturating_duration_since(start));
        self.inner
            .finish(self.ticket, Some(false), &mut LazyNow::at(now), elapsed);
    }

    /// The call failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder().count_window(3).minimum_calls(3).build().unwrap();
    /// let permit = breaker.try_acquire(&rt).unwrap();
    /// let answer: Result<u32, &str> = Err("connection reset"); // the call we made
    /// match answer {
    ///     Ok(_) => permit.success(&rt),
    ///     Err(_) => permit.failure(&rt),
    /// }
    /// assert_eq!(breaker.stats().failures, 1);
    /// assert_eq!(breaker.state(), CircuitState::Closed); // fewer than `minimum_calls` so far
    /// ```
    pub fn failure(mut self, rt: &Runtime) {
        self.done = true;
        let now = rt.now();
        self.inner.finish(
            self.ticket,
            Some(true),
            &mut LazyNow::at(now),
            Duration::ZERO,
        );
    }
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if !self.done {
            // No time is needed to record "not counted".
            self.inner
                .finish(self.ticket, None, &mut LazyNow::none(), Duration::ZERO);
        }
    }
}

/// A [`BreakerPermit`] that borrows its breaker, for calls made within the caller's own future
/// (`run`, the pipeline); from [`CircuitBreaker::admit`]. Dropped without reporting, it counts
/// nothing and frees the probe slot it may hold.
pub(crate) struct Admission<'a> {
    inner: &'a Inner,
    ticket: Ticket,
    done: bool,
}

impl Admission<'_> {
    /// Records a policy result: `Ok` is a success (or slow), `Inner`/`Timeout`/exhausted retries
    /// a failure, anything else is not counted. `op_time` is the operation's duration when the
    /// caller measured it; otherwise it is measured from the admission, if a slow-call threshold
    /// needs it. The clock is read only when something needs it.
    pub(crate) fn record_result<T, E>(
        mut self,
        result: &Result<T, ResilienceError<E>>,
        rt: &Runtime,
        op_time: Option<Duration>,
    ) {
        self.done = true;
        let outcome = match result {
            Ok(_) => Some(false),
            Err(
                ResilienceError::Inner(_)
                | ResilienceError::Timeout(_)
                | ResilienceError::RetriesExhausted { .. },
            ) => Some(true),
            Err(_) => None,
        };
        let mut now = LazyNow::from(rt);
        let elapsed = match (op_time, self.ticket.start) {
            (Some(elapsed), _) => elapsed,
            (None, Some(start)) => now.get().saturating_duration_since(start),
            (None, None) => Duration::ZERO,
        };
        self.inner.finish(self.ticket, outcome, &mut now, elapsed);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.inner
                .finish(self.ticket, None, &mut LazyNow::none(), Duration::ZERO);
        }
    }
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("probe", &self.ticket.probe)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerBuilder {
    /// The failure rate, in `(0, 1]`, at which the breaker opens. Default 0.5.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .failure_rate_threshold(1.0) // open only when every call fails
    ///     .count_window(2)
    ///     .minimum_calls(2)
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire(&rt).unwrap().success(&rt);
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// let err = CircuitBreaker::builder().failure_rate_threshold(1.5).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidRatio { value: 1.5, .. }));
    /// ```
    pub fn failure_rate_threshold(mut self, ratio: f64) -> Self {
        self.threshold = ratio;
        self
    }

    /// Computes the failure rate over the last `calls` calls. Default 20.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder().count_window(3).minimum_calls(3).build().unwrap();
    /// for _ in 0..3 {
    ///     breaker.try_acquire(&rt).unwrap().success(&rt);
    /// }
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Open); // 2 of the last 3 failed (2 of 5 overall)
    /// let err = CircuitBreaker::builder().count_window(0).minimum_calls(1).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker count_window" });
    /// ```
    pub fn count_window(mut self, calls: u32) -> Self {
        self.window = WindowKind::Count(calls);
        self
    }

    /// Computes the failure rate over the calls of the last `window` of time (sliding in steps of
    /// a tenth of it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .time_window(Duration::from_secs(60))
    ///     .minimum_calls(2)
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// vrt.clock().advance(Duration::from_secs(120)); // that failure has left the window
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Closed); // one call in the window: too few
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// ```
    pub fn time_window(mut self, window: Duration) -> Self {
        self.window = WindowKind::Time(window);
        self
    }

    /// The fewest calls in the window before the rate is evaluated. Default 10.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, ConfigError};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder().minimum_calls(3).build().unwrap();
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Closed); // 100 % failures, but only 2 calls
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// let err = CircuitBreaker::builder().minimum_calls(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker minimum_calls" });
    /// ```
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// How long the breaker stays open before letting probes through. Default 30 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .open_duration(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// assert_eq!(breaker.try_acquire(&rt).unwrap_err().retry_after, Some(Duration::from_secs(5)));
    /// vrt.clock().advance(Duration::from_secs(5));
    /// let probe = breaker.try_acquire(&rt).unwrap(); // the open duration is over
    /// assert_eq!(breaker.state(), CircuitState::HalfOpen);
    /// # drop(probe);
    /// ```
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.open_duration = duration;
        self
    }

    /// How many probe calls half-open lets through (and waits for) before deciding. Default 3.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .half_open_probes(2)
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// vrt.clock().advance(Duration::from_secs(30));
    /// let (a, b) = (breaker.try_acquire(&rt).unwrap(), breaker.try_acquire(&rt).unwrap());
    /// assert_eq!(breaker.try_acquire(&rt).unwrap_err().retry_after, None); // both slots taken
    /// a.success(&rt);
    /// b.success(&rt);
    /// assert_eq!(breaker.state(), CircuitState::Closed); // both probes succeeded
    /// ```
    pub fn half_open_probes(mut self, probes: u32) -> Self {
        self.probes = probes;
        self
    }

    /// Counts a success that took `threshold` or longer as a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, CircuitState};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .slow_call(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// let slow = breaker.run(&rt, || async {
    ///     rt.sleep(Duration::from_secs(5)).await;
    ///     Ok::<_, ()>(())
    /// });
    /// assert_eq!(slow.await, Ok(())); // the caller still gets its value…
    /// assert_eq!(breaker.state(), CircuitState::Open); // …but the breaker counted a failure
    /// assert!(CircuitBreaker::builder().slow_call(Duration::ZERO).build().is_err());
    /// # });
    /// ```
    pub fn slow_call(mut self, threshold: Duration) -> Self {
        self.slow_call = Some(threshold);
        self
    }

    /// Calls `listener` on every state change (outside the breaker's lock; keep it short).
    ///
    /// A panic in `listener` propagates to the caller whose call made the change, once the change
    /// is complete; the breaker stays usable (see [`CircuitBreaker`], "Panics").
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use uno_core::resilience::{CircuitBreaker, CircuitState, StateChange};
    /// # use uno_core::rt::VirtualRuntime;
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    ///
    /// let changes = Arc::new(Mutex::new(Vec::new()));
    /// let log = changes.clone();
    /// let breaker = CircuitBreaker::builder()
    ///     .count_window(1)
    ///     .minimum_calls(1)
    ///     .on_state_change(move |change| log.lock().unwrap().push(change))
    ///     .build()
    ///     .unwrap();
    /// breaker.try_acquire(&rt).unwrap().failure(&rt);
    /// let opened = StateChange { from: CircuitState::Closed, to: CircuitState::Open };
    /// assert_eq!(*changes.lock().unwrap(), [opened]);
    /// ```
    pub fn on_state_change(
        mut self,
        listener: impl Fn(StateChange) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// Builds the breaker.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRatio`] for a threshold that is NaN or outside `(0, 1]`;
    /// [`ConfigError::Zero`] for a zero window, minimum, open duration, probe count or slow-call
    /// threshold; [`ConfigError::MinimumCallsExceedWindow`] when a count window is smaller than
    /// `minimum_calls`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::resilience::{CircuitBreaker, ConfigError};
    ///
    /// let breaker = CircuitBreaker::builder()
    ///     .failure_rate_threshold(0.25)
    ///     .time_window(Duration::from_secs(60))
    ///     .open_duration(Duration::from_secs(10))
    ///     .build();
    /// assert!(breaker.is_ok());
    /// let err = CircuitBreaker::builder().half_open_probes(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker half_open_probes" });
    /// let err = CircuitBreaker::builder().open_duration(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::Zero { what: "circuit breaker open_duration" });
    /// ```
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError::InvalidRatio {
                what: "circuit breaker failure_rate_threshold",
                value: self.threshold,
            });
        }
        let zero = |what| Err(ConfigError::Zero { what });
        if self.minimum_calls == 0 {
            return zero("circuit breaker minimum_calls");
        }
        if self.open_duration.is_zero() {
            return zero("circuit breaker open_duration");
        }
        if self.probes == 0 {
            return zero("circuit breaker half_open_probes");
        }
        if self.slow_call.is_some_and(|d| d.is_zero()) {
            return zero("circuit breaker slow_call threshold");
        }
        let window = match self.window {
            WindowKind::Count(0) => return zero("circuit breaker count_window"),
            WindowKind::Count(n) if n < self.minimum_calls => {
                return Err(ConfigError::MinimumCallsExceedWindow {
                    minimum_calls: self.minimum_calls,
                    window: n,
                });
            }
            WindowKind::Count(n) => Window::count(n),
            WindowKind::Time(d) if d.is_zero() => return zero("circuit breaker time_window"),
            WindowKind::Time(d) => Window::time(d),
        };
        Ok(CircuitBreaker {
            inner: Arc::new(Inner {
                threshold: self.threshold,
                minimum_calls: self.minimum_calls,
                open_duration: self.open_duration,
                probes: self.probes,
                slow_call: self.slow_call,
                listener: self.listener,
                closed_epoch: AtomicU64::new(0),
                state: Mutex::new(State {
                    phase: Phase::Closed,
                    epoch: 0,
                    window,
                }),
                counters: Counters::default(),
            }),
        })
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("failure_rate_threshold", &self.threshold)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("open_duration", &self.open_duration)
            .field("half_open_probes", &self.probes)
            .field("slow_call", &self.slow_call)
            .finish_non_exhaustive()
    }
}
