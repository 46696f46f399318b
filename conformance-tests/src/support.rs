//! Helpers shared by the cases.

use std::cell::Cell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::ops::RangeBounds;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use uno_core::Runtime;
use uno_core::rt::{BoxFuture, Spawner};
use uno_core::sync::AsyncEvent;
use uno_core::task::yield_now;
use uno_core::time::{Sleep, Timer};

use crate::Env;

/// Polls `future` up to `k` times with the calling task's waker, yielding to the executor between
/// polls, then drops it. Returns the output if it completed within those polls.
///
/// The cancellation cases use it to drop a waiter "at every await point": for each `k` from 0 up.
pub async fn poll_times<F: Future>(future: F, k: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    for _ in 0..k {
        if let Some(output) = futures_lite::future::poll_once(future.as_mut()).await {
            return Some(output);
        }
        uno_core::task::yield_now().await;
    }
    None
}

/// Polls `future` each time it is woken, at most `polls` times, then drops it (inside the last
/// poll, so a panic in its `Drop` reaches the caller's `catch`); its output if it completed
/// first. `made` counts the polls. Unlike [`poll_times`], which yields between polls (timers never
/// fire in between on virtual time), this waits for the future's own wake-ups, so the cut points
/// include every sleep: an attempt's, a backoff, a limiter's turn, a queue for a slot.
pub(crate) async fn drop_after_polls<F: Future>(
    future: F,
    polls: usize,
    made: &Cell<usize>,
) -> Option<F::Output> {
    let mut slot = Some(Box::pin(future));
    poll_fn(move |cx| {
        let Some(future) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        if made.get() == polls {
            slot = None; // dropped here, inside `poll`
            return Poll::Ready(None);
        }
        made.set(made.get() + 1);
        match future.as_mut().poll(cx) {
            Poll::Ready(output) => {
                slot = None;
                Poll::Ready(Some(output))
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Compile-time check that `T` is `Send + Sync`.
pub fn assert_send_sync<T: Send + Sync>() {}

/// How long a case waits for something that must happen promptly before calling it a hang (on the
/// runtime's clock: on virtual time a hang then fails at once instead of waiting for the watchdog).
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// Asserts a time a case measured (an elapsed time, a wait, a `retry_after`): exactly `expected` on
/// virtual time; on a real clock, which runs late under load and may start an interval before the
/// case reads it, anywhere in `real` — the case's own generous bounds (`..` when only virtual time
/// can say anything). `what` names the measurement in the failure message.
///
/// `real` must contain `expected`, checked on virtual time (where `expected` is exact): a case whose
/// bounds exclude its own exact value fails there. On a real clock only `measured` is checked, so
/// a bound taken from another measurement of the same run (`..first_wait`) needs no margin.
#[track_caller]
pub(crate) fn assert_duration(
    env: &Env,
    measured: Duration,
    expected: Duration,
    real: impl RangeBounds<Duration> + fmt::Debug,
    what: impl fmt::Display,
) {
    if env.is_virtual_time() {
        assert!(
            real.contains(&expected),
            "{what}: the real-clock bounds {real:?} exclude the exact value {expected:?}"
        );
        assert_eq!(
            measured, expected,
            "{what}: {measured:?} on virtual time, expected exactly {expected:?}"
        );
    } else {
        assert!(
            real.contains(&measured),
            "{what}: {measured:?}, outside {real:?} (exactly {expected:?} on virtual time)"
        );
    }
}

/// Asserts the times of a `*_timeout` wait that gave up after `wait`: the elapsed time its error
/// reports, and the time the case measured around the call, are both at least `wait` (exactly
/// `wait` on virtual time), and the call returned within ten seconds.
#[track_caller]
pub(crate) fn assert_timed_out_after(
    env: &Env,
    wait: Duration,
    reported: Duration,
    took: Duration,
    what: &str,
) {
    let what = format!("{what} timing out after {wait:?}");
    assert_duration(
        env,
        reported,
        wait,
        wait..,
        format_args!("{what}: the error's elapsed time"),
    );
    let limit = Duration::from_secs(10);
    assert_duration(
        env,
        took,
        wait,
        wait..limit,
        format_args!("{what}: the time it took"),
    );
}

/// Anything a case can get the runtime from: the [`Env`] or the [`Runtime`] itself.
pub(crate) trait HasRuntime {
    fn runtime(&self) -> &Runtime;
}

impl HasRuntime for Env {
    fn runtime(&self) -> &Runtime {
        self.rt()
    }
}

impl HasRuntime for Runtime {
    fn runtime(&self) -> &Runtime {
        self
    }
}

/// Awaits `future`, failing the case with `what` if it takes longer than [`PATIENCE`] (a lost
/// wake-up or a hang).
pub(crate) async fn within<F: Future>(
    rt: &(impl HasRuntime + ?Sized),
    what: &str,
    future: F,
) -> F::Output {
    match rt.runtime().timeout(PATIENCE, "", future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not finish within {PATIENCE:?}: a lost wake-up or a hang"),
    }
}

/// Waits until `condition` holds: first by yielding (up to 200 times, so virtual time stands still
/// while spawned tasks catch up), then by sleeping a millisecond at a time; fails the case after
/// [`PATIENCE`]. For handshakes with spawned tasks, which run at their executor's pace.
pub(crate) async fn eventually(
    rt: &(impl HasRuntime + ?Sized),
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    let rt = rt.runtime();
    let start = rt.now();
    let mut yields = 0;
    while !condition() {
        assert!(
            rt.now().saturating_duration_since(start) < PATIENCE,
            "{what}: still not true after {PATIENCE:?}"
        );
        if yields < 200 {
            yields += 1;
            yield_now().await;
        } else {
            rt.sleep(Duration::from_millis(1)).await;
        }
    }
}

/// One await point at which a cancellation case drops its victim: after `polls` polls, with the
/// release (of a lock, permits, an event…) run just before poll number `release_at`, or, when
/// `release_at >= polls`, after the last poll and just before the victim is dropped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropPoint {
    pub(crate) polls: usize,
    pub(crate) release_at: usize,
}

impl DropPoint {
    /// Every schedule with up to `max_polls` polls, releasing before each poll or after the last.
    pub(crate) fn all(max_polls: usize) -> impl Iterator<Item = DropPoint> {
        (0..=max_polls)
            .flat_map(|polls| (0..=polls).map(move |release_at| DropPoint { polls, release_at }))
    }
}

/// Runs one [`DropPoint`] schedule: polls `victim` (yielding between polls) and drops it, polling
/// `behind` once right after the victim's first poll so that it queues behind the victim (or once
/// at the end if the victim is never polled), and calls `release` exactly once as scheduled.
///
/// Returns the victim's output if it completed, and `behind`'s output if its one poll completed.
/// The caller then awaits `behind` if needed: it must not have lost its wake-up.
pub(crate) async fn drop_waiter_at<V: Future, B: Future>(
    point: DropPoint,
    victim: V,
    mut behind: Pin<&mut B>,
    release: impl FnOnce(),
) -> (Option<V::Output>, Option<B::Output>) {
    let mut victim = pin!(victim);
    let mut release = Some(release);
    let mut victim_output = None;
    let mut behind_output = None;
    let mut behind_polled = false;
    for poll in 0..point.polls {
        if poll == point.release_at
            && let Some(release) = release.take()
        {
            release();
        }
        if let Some(output) = poll_once(victim.as_mut()).await {
            victim_output = Some(output);
            break;
        }
        if !behind_polled {
            behind_polled = true;
            behind_output = poll_once(behind.as_mut()).await;
        }
        yield_now().await;
    }
    if !behind_polled {
        behind_output = poll_once(behind.as_mut()).await;
    }
    if let Some(release) = release.take() {
        release();
    }
    (victim_output, behind_output)
}

/// Observes when a value moved into a future is dropped: proof that the future itself was.
pub(crate) struct DropProbe {
    dropped: Arc<AtomicBool>,
    event: AsyncEvent,
}

/// The half of a [`DropProbe`] that goes into the future; it reports its own drop.
pub(crate) struct ProbeGuard {
    dropped: Arc<AtomicBool>,
    event: AsyncEvent,
}

impl DropProbe {
    pub(crate) fn new() -> Self {
        DropProbe {
            dropped: Arc::new(AtomicBool::new(false)),
            event: AsyncEvent::new(),
        }
    }

    /// The guard to move into the future under test.
    pub(crate) fn guard(&self) -> ProbeGuard {
        ProbeGuard {
            dropped: self.dropped.clone(),
            event: self.event.clone(),
        }
    }

    /// Whether the guard has been dropped.
    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Waits until the guard has been dropped, failing the case after [`PATIENCE`].
    pub(crate) async fn wait_dropped(&self, rt: &Runtime) {
        within(rt, "the future to be dropped", self.event.wait()).await;
        assert!(self.is_dropped());
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
        self.event.set();
    }
}

/// The backend's own clock, as the timer half of another runtime.
pub(crate) struct SameClock(pub(crate) Runtime);

impl Timer for SameClock {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.0.sleep_until(deadline)
    }
}

/// Counts the executor's polls of one spawned task that have started and finished: a poll is
/// in progress while `started > finished`. It encloses all of the task, not only the user code
/// inside it, so the bookkeeping a library does before and after the user's poll counts as
/// "being polled" too.
#[derive(Clone, Default)]
pub(crate) struct PollCount {
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl PollCount {
    /// The polls that had returned when this was called.
    pub(crate) fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Whether a poll started after `finished` polls had returned: then a poll overlapped the
    /// moment `finished` was read, or began after it.
    pub(crate) fn polled_since(&self, finished: usize) -> bool {
        self.started.load(Ordering::SeqCst) > finished
    }
}

/// Spawns on the backend, wrapping every task to count its polls: which task was being polled
/// when something happened, from outside the library that spawned it.
#[derive(Clone)]
pub(crate) struct WatchedSpawner {
    backend: Runtime,
    tasks: Arc<Mutex<Vec<PollCount>>>,
}

impl WatchedSpawner {
    /// A runtime spawning on `backend`'s executor and sleeping on its clock, and the spawner
    /// whose [`tasks`](Self::tasks) it records.
    pub(crate) fn runtime(backend: &Runtime) -> (Runtime, WatchedSpawner) {
        let spawner = WatchedSpawner {
            backend: backend.clone(),
            tasks: Arc::default(),
        };
        let rt = Runtime::new(spawner.clone(), SameClock(backend.clone()));
        (rt, spawner)
    }

    /// The poll counts of the tasks spawned so far, in spawn order.
    pub(crate) fn tasks(&self) -> Vec<PollCount> {
        self.tasks.lock().unwrap().clone()
    }
}

impl Spawner for WatchedSpawner {
    fn spawn_boxed(&self, mut future: BoxFuture<()>) {
        let count = PollCount::default();
        self.tasks.lock().unwrap().push(count.clone());
        self.backend
            .spawner()
            .spawn_boxed(Box::pin(poll_fn(move |cx| {
                count.started.fetch_add(1, Ordering::SeqCst);
                let poll = future.as_mut().poll(cx);
                count.finished.fetch_add(1, Ordering::SeqCst);
                poll
            })));
    }
}

/// A value whose `Drop` panics with its message: moved into a user future or closure, it makes
/// dropping that future or closure panic. It stays quiet while its thread is already unwinding
/// (a second panic there would abort the process, which no library can report as a value).
pub(crate) struct PanicOnDrop(pub(crate) &'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// `future`, except that dropping it — before or after it completes — panics with `message`.
///
/// A named future, not an `async` block: an `async` block drops what it captured inside its last
/// poll, while this one panics only when the future itself is dropped, after it returned `Ready`
/// (or when cancelled) — the path an executor or a combinator runs outside that poll.
pub(crate) fn panics_on_drop<F: Future>(message: &'static str, future: F) -> PanicsOnDrop<F> {
    PanicsOnDrop {
        future: Box::pin(future),
        _bomb: PanicOnDrop(message),
    }
}

/// The future of [`panics_on_drop`].
pub(crate) struct PanicsOnDrop<F> {
    future: Pin<Box<F>>,
    _bomb: PanicOnDrop,
}

impl<F: Future> Future for PanicsOnDrop<F> {
    type Output = F::Output;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.future.as_mut().poll(cx)
    }
}

/// A value whose `Drop` blocks its thread briefly (a few milliseconds of real time), as a `Drop`
/// that flushes a file or joins a thread does.
pub(crate) struct BlockOnDrop;

/// How long a [`BlockOnDrop`] blocks.
pub(crate) const BLOCK_ON_DROP: Duration = Duration::from_millis(5);

impl Drop for BlockOnDrop {
    fn drop(&mut self) {
        std::thread::sleep(BLOCK_ON_DROP);
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use uno_core::rt::VirtualRuntime;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Whether `check` fails (the `Env` holds no state a failed check could leave broken).
    fn fails(check: impl FnOnce()) -> bool {
        catch_unwind(AssertUnwindSafe(check)).is_err()
    }

    fn envs() -> (Env, Env) {
        let rt = VirtualRuntime::new().handle();
        let real = Env::new("real", rt.clone());
        (real, Env::new("virtual", rt).with_virtual_time())
    }

    #[test]
    fn assert_duration_is_exact_on_virtual_time() {
        let (_, virtual_time) = envs();
        assert_duration(&virtual_time, MS * 20, MS * 20, MS * 19..MS * 25, "exact");
        assert_duration(
            &virtual_time,
            MS * 20,
            MS * 20,
            ..,
            "unbounded on real clocks",
        );
        let late =
            fails(|| assert_duration(&virtual_time, MS * 21, MS * 20, MS * 19..MS * 25, "late"));
        assert!(late, "a value inside the real bounds is not exact");
        let early = fails(|| {
            let measured = MS * 20 - Duration::from_nanos(1);
            assert_duration(&virtual_time, measured, MS * 20, .., "early")
        });
        assert!(early, "a nanosecond off is not exact");
    }

    #[test]
    fn assert_duration_checks_that_the_real_bounds_hold_the_exact_value_on_virtual_time() {
        let (real, virtual_time) = envs();
        let excluded =
            fails(|| assert_duration(&virtual_time, MS * 20, MS * 20, MS * 21.., "excluded"));
        assert!(excluded, "bounds that exclude the exact value");
        // On a real clock only the measurement is checked.
        assert_duration(&real, MS * 22, MS * 20, MS * 21.., "a later bound");
    }

    #[test]
    fn assert_duration_checks_only_the_bounds_on_a_real_clock() {
        let (real, _) = envs();
        assert_duration(&real, MS * 19, MS * 20, MS * 19..MS * 25, "the low end");
        assert_duration(&real, MS * 24, MS * 20, MS * 19..MS * 25, "the high end");
        for measured in [MS * 18, MS * 25] {
            let outside =
                fails(|| assert_duration(&real, measured, MS * 20, MS * 19..MS * 25, "outside"));
            assert!(outside, "{measured:?} is outside 19..25 ms");
        }
        assert_duration(&real, Duration::MAX, MS * 20, .., "unbounded");
    }
}
