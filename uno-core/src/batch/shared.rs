//! The state every handle, waiter and background task of one batcher shares, and the two kinds of
//! background task: the timer worker (one per batcher) and the batch runners (one per in-flight
//! slot).
//!
//! # Implementation notes
//!
//! Invariants, all kept under the `state` lock:
//! - `ready` is non-empty only while `in_flight == max_in_flight`: whoever frees a slot takes the
//!   next ready batch first, so a full batch never waits while a slot is free.
//! - Every queued item's reply slot lives in exactly one [`Waiters`], and a `Waiters` answers every
//!   slot it still holds when dropped — so an item is answered exactly once on every path
//!   (delivered, failed, cancelled by the runtime), and never lost silently.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Instant;

use atomic_waker::AtomicWaker;

use super::builder::Config;
use super::error::BatchError;
use super::metrics::{BatchMetrics, Failure, Flush};
use super::operation::{self, Operation};
use super::slot::{SlotRef, Slots};
use super::{BatcherStats, ShutdownReport};
use crate::loom::{Mutex, MutexGuard};
use crate::observe::{Name, event};
use crate::rt::Runtime;
use crate::sync::{AsyncEvent, AsyncSemaphore, SemaphorePermit};
use crate::time::{Sleep, deadline_after};

/// What an item's caller gets back.
pub(super) type Reply<O, E> = Result<O, BatchError<E>>;
pub(super) type ReplySlot<O, E> = SlotRef<Reply<O, E>>;

/// A runner yields to its executor after this many batches taken from the queue back to back, so
/// a steady stream of batches cannot monopolise a thread.
const BATCHES_BEFORE_YIELD: u32 = 8;

/// A new batch reserves room for at most this many items up front (more only as it fills).
const MAX_PREALLOCATED: usize = 1024;

pub(super) struct Shared<I, O, E> {
    pub(super) rt: Runtime,
    pub(super) name: Name,
    metrics: BatchMetrics,
    pub(super) config: Config,
    op: Operation<I, O, E>,
    state: Mutex<State<I, O, E>>,
    /// Keeps the `max_queued` bound, fairly; `None` when unbounded. A permit is taken per item
    /// and given back when the item's batch starts.
    pub(super) queue_permits: Option<AsyncSemaphore>,
    worker_notified: AtomicBool,
    worker_waker: AtomicWaker,
    /// Set once closed and everything queued or in flight has finished.
    pub(super) drained: AsyncEvent,
    /// Live `AsyncBatcher` handles; the last one to go closes (and so flushes) the batcher.
    pub(super) handles: AtomicUsize,
    rejected: AtomicU64,
}

struct State<I, O, E> {
    /// The batch being filled, and when its oldest item will have waited `max_wait_time`.
    open: Option<(Batch<I, O, E>, Instant)>,
    /// Sealed batches waiting for an in-flight slot.
    ready: VecDeque<Batch<I, O, E>>,
    /// Items in `open` and `ready`.
    queued: usize,
    in_flight: usize,
    closed: bool,
    /// Whether the worker will look at the open batch by its deadline without being notified (it
    /// has a timer armed no later than that, or a notification is pending).
    worker_watching: bool,
    /// The size of the last batch to leave the queue: how many reply slots a new batch allocates
    /// up front, so a steady stream of batches allocates one block of slots per batch.
    last_batch_len: usize,
    report: Option<ShutdownReport>,
    stats: BatcherStats,
}

impl<I, O, E> State<I, O, E> {
    fn is_drained(&self) -> bool {
        self.closed && self.open.is_none() && self.ready.is_empty() && self.in_flight == 0
    }
}

/// A batch: the items for the operation, and their callers' reply slots in the same order.
pub(super) struct Batch<I, O, E> {
    items: Vec<I>,
    waiters: Waiters<O, E>,
}

impl<I, O, E> Batch<I, O, E> {
    fn with_capacity(n: usize, name: &Name) -> Self {
        let n = n.min(MAX_PREALLOCATED);
        Batch {
            items: Vec::with_capacity(n),
            waiters: Waiters {
                slots: Slots::default(),
                name: name.clone(),
            },
        }
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

/// The reply slots of one batch (and the batcher's name, for its errors). Dropping it answers
/// every slot still held with [`BatchError::Cancelled`]: the runtime dropped the batch before it
/// could finish.
struct Waiters<O, E> {
    slots: Slots<Reply<O, E>>,
    name: Name,
}

impl<O, E: Clone> Waiters<O, E> {
    /// Answers every item.
    fn deliver(mut self, outcome: Result<Vec<O>, BatchError<E>>) {
        let slots = std::mem::take(&mut self.slots);
        let error = match outcome {
            Ok(results) if results.len() == slots.len() => {
                slots.send_each(results.into_iter().map(Ok));
                return;
            }
            Ok(results) => BatchError::ResultCount {
                name: self.name.shared(),
                expected: slots.len(),
                actual: results.len(),
            },
            Err(error) => error,
        };
        let mut error = Some(error);
        slots.send_all(|last| {
            // Cloned for all but the last item, which gets the original.
            let error = if last { error.take() } else { error.clone() };
            Err(error.expect("only the last item takes the error"))
        });
    }
}

impl<O, E> Drop for Waiters<O, E> {
    fn drop(&mut self) {
        let name = self.name.shared();
        std::mem::take(&mut self.slots)
            .send_all(|_| Err(BatchError::Cancelled { name: name.clone() }));
    }
}

/// A batch leaving the queue: start it, give its items' queue permits back, and report its
/// flush — after unlocking.
struct Launch<I, O, E> {
    batch: Option<Batch<I, O, E>>,
    released: usize,
    /// Why and with how many items a batch was flushed.
    flushed: Option<(Flush, usize)>,
}

impl<I, O, E> Launch<I, O, E> {
    fn none() -> Self {
        Launch {
            batch: None,
            released: 0,
            flushed: None,
        }
    }
}

/// What a batch operation's outcome means for the batch as a whole: `None` if every item got its
/// own result.
fn failure<O, E>(outcome: &Result<Vec<O>, BatchError<E>>, size: usize) -> Option<Failure> {
    match outcome {
        Ok(results) if results.len() == size => None,
        Ok(_) => Some(Failure::ResultCount),
        Err(BatchError::Panicked { .. }) => Some(Failure::Panic),
        Err(_) => Some(Failure::Operation),
    }
}

impl<I, O, E> Shared<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    fn new(rt: &Runtime, name: Name, config: Config, op: Operation<I, O, E>) -> Self {
        let queue_permits = config.max_queued.map(|n| {
            let sem = AsyncSemaphore::new(0);
            sem.add_permits(n)
                .expect("validated: max_queued <= MAX_PERMITS");
            sem
        });
        Shared {
            rt: rt.clone(),
            metrics: BatchMetrics::new(&name),
            name,
            config,
            op,
            state: Mutex::new(State {
                open: None,
                ready: VecDeque::new(),
                queued: 0,
                in_flight: 0,
                closed: false,
                worker_watching: false,
                last_batch_len: 0,
                report: None,
                stats: BatcherStats::default(),
            }),
            queue_permits,
            worker_notified: AtomicBool::new(false),
            worker_waker: AtomicWaker::new(),
            drained: AsyncEvent::new(),
            handles: AtomicUsize::new(1),
            rejected: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<I, O, E>> {
        // No user code runs under this lock, and no await: poisoning cannot leave it inconsistent.
        self.state.lock()
    }

    pub(super) fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.items_rejected.increment(1);
    }

    /// Sets the gauges to the state's counts. Called with the lock, after each change, so the
    /// gauges move in the order the counts do.
    fn publish(&self, state: &State<I, O, E>) {
        self.metrics.queued_items.set(state.queued as f64);
        self.metrics.in_flight.set(state.in_flight as f64);
    }

    /// The error of an item refused because the batcher is closed.
    pub(super) fn closed(&self) -> BatchError<E> {
        BatchError::Closed {
            name: self.name.shared(),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(super) fn stats(&self) -> BatcherStats {
        let state = self.lock();
        BatcherStats {
            items_rejected: self.rejected.load(Ordering::Relaxed),
            queued_items: state.queued,
            batches_in_flight: state.in_flight,
            ..state.stats
        }
    }

    /// Flushes `batch` for `reason`: starts it if a slot is free, else queues it behind the
    /// others. Called with the lock.
    fn dispatch(
        &self,
        state: &mut State<I, O, E>,
        batch: Batch<I, O, E>,
        reason: Flush,
    ) -> Launch<I, O, E> {
        state.last_batch_len = batch.len();
        let flushed = Some((reason, batch.len()));
        if state.in_flight < self.config.max_in_flight {
            state.in_flight += 1;
            state.queued -= batch.len();
            state.stats.batches_started += 1;
            Launch {
                released: batch.len(),
                batch: Some(batch),
                flushed,
            }
        } else {
            state.ready.push_back(batch);
            Launch {
                flushed,
                ..Launch::none()
            }
        }
    }

    /// The part of a dispatch done after unlocking: permits back to waiting callers, and a new
    /// runner (outside the lock, since an executor may run or drop the task right away).
    fn finish_launch(self: &Arc<Self>, launch: Launch<I, O, E>) {
        if let Some((reason, size)) = launch.flushed {
            self.report_flush(reason, size);
        }
        if launch.released > 0
            && let Some(sem) = &self.queue_permits
        {
            // Cannot overflow: these permits were taken from the same semaphore.
            let _ = sem.add_permits(launch.released);
        }
        if let Some(batch) = launch.batch {
            let slot = InFlight {
                shared: self.clone(),
                held: true,
            };
            self.rt.spawn(run_batches(slot, batch)).detach();
        }
    }

    /// The metric and event of one flushed batch.
    fn report_flush(&self, reason: Flush, size: usize) {
        self.metrics.flushed(reason, size);
        event!(
            debug,
            "uno_core::batch",
            name = %self.name,
            size,
            reason = reason.label(),
            "batch flushed"
        );
    }

    fn notify_worker(&self) {
        self.worker_notified.store(true, Ordering::Release);
        self.worker_waker.wake();
    }

    /// Queues `item` and returns the slot its result will arrive in. `permit` is its place in
    /// the bounded queue (`None` when unbounded); it is given back if the item is refused.
    pub(super) fn enqueue(
        self: &Arc<Self>,
        item: I,
        permit: Option<SemaphorePermit<'_>>,
    ) -> Result<ReplySlot<O, E>, BatchError<E>> {
        let mut notify = false;
        let reply;
        let launch = {
            let mut state = self.lock();
            if state.closed {
                return Err(self.closed());
            }
            let state = &mut *state;
            let (batch, _) = state.open.get_or_insert_with(|| {
                // The worker must learn of the new deadline, unless it is already watching.
                notify = !std::mem::replace(&mut state.worker_watching, true);
                let deadline = deadline_after(self.rt.now(), self.config.max_wait_time);
                let batch = Batch::with_capacity(self.config.max_batch_size, &self.name);
                (batch, deadline)
            });
            batch.items.push(item);
            reply = batch
                .waiters
                .slots
                .push(state.last_batch_len, self.config.max_batch_size);
            state.queued += 1;
            state.stats.items_added += 1;
            self.metrics.items_added.increment(1);
            let launch = if batch.len() >= self.config.max_batch_size {
                let (batch, _) = state.open.take().expect("the open batch was just filled");
                state.stats.full_flushes += 1;
                self.dispatch(state, batch, Flush::Full)
            } else if self.config.flush_when_idle && state.in_flight < self.config.max_in_flight {
                let (batch, _) = state.open.take().expect("an item was just added");
                state.stats.idle_flushes += 1;
                self.dispatch(state, batch, Flush::Idle)
            } else {
                Launch::none()
            };
            self.publish(state);
            launch
        };
        // Queued: the permit now stays taken until the item's batch starts (`finish_launch`).
        if let Some(permit) = permit {
            permit.forget();
        }
        self.finish_launch(launch);
        if notify {
            self.notify_worker();
        }
        Ok(reply)
    }

    /// Closes the batcher: refuses new items, flushes the open batch, and returns the report of
    /// the first close (later calls change nothing and return the same report).
    pub(super) fn close(self: &Arc<Self>) -> ShutdownReport {
        let (report, launch, drained) = {
            let mut state = self.lock();
            if let Some(report) = state.report {
                return report;
            }
            state.closed = true;
            let mut report = ShutdownReport {
                flushed_items: state.queued,
                flushed_batches: state.ready.len(),
                running_batches: state.in_flight,
                cancelled_items: 0,
            };
            let launch = match state.open.take() {
                Some((batch, _)) => {
                    report.flushed_batches += 1;
                    state.stats.close_flushes += 1;
                    self.dispatch(&mut state, batch, Flush::Close)
                }
                None => Launch::none(),
            };
            self.publish(&state);
            state.report = Some(report);
            (report, launch, state.is_drained())
        };
        // Callers waiting for room get `Closed`; nothing can be queued any more.
        if let Some(sem) = &self.queue_permits {
            sem.close();
        }
        self.finish_launch(launch);
        self.notify_worker();
        if drained {
            self.drained.set();
        }
        report
    }

    /// Called by a runner after each batch: takes the next ready batch, keeping the slot (with
    /// `flush_when_idle`, the open batch if no batch is ready), or frees the slot if there is none.
    fn next_or_release(&self, failed: bool) -> Option<Batch<I, O, E>> {
        let mut idle_flush = None;
        let (next, released, drained) = {
            let mut state = self.lock();
            let state = &mut *state;
            state.stats.batches_failed += u64::from(failed);
            let mut ready = state.ready.pop_front();
            if ready.is_none()
                && self.config.flush_when_idle
                && let Some((batch, _)) = state.open.take()
            {
                // The worker may be watching this batch's deadline; it finds no open batch and
                // stops watching.
                state.stats.idle_flushes += 1;
                state.last_batch_len = batch.len();
                idle_flush = Some(batch.len());
                ready = Some(batch);
            }
            let next = match ready {
                Some(batch) => {
                    state.queued -= batch.len();
                    state.stats.batches_started += 1;
                    let n = batch.len();
                    (Some(batch), n, false)
                }
                None => {
                    state.in_flight -= 1;
                    (None, 0, state.is_drained())
                }
            };
            self.publish(state);
            next
        };
        if let Some(size) = idle_flush {
            self.report_flush(Flush::Idle, size);
        }
        if released > 0
            && let Some(sem) = &self.queue_permits
        {
            let _ = sem.add_permits(released);
        }
        if drained {
            self.drained.set();
        }
        next
    }

    /// A runner was dropped by its executor mid-batch: the executor is shutting down (detached
    /// tasks are dropped for no other reason). Its own batch has been answered `Cancelled` by its
    /// `Waiters`; the rest is abandoned.
    fn abort_runner(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            state.stats.batches_failed += 1;
            state.in_flight -= 1;
            self.publish(&state);
        }
        self.metrics.failed(Failure::Cancelled);
        event!(
            warn,
            "uno_core::batch",
            name = %self.name,
            reason = Failure::Cancelled.label(),
            "batch dropped before it finished"
        );
        self.abandon();
    }

    /// The executor stopped running the batcher's tasks (it dropped the worker or a runner): close,
    /// and answer every queued item [`BatchError::Cancelled`] instead of spawning batches on an
    /// executor that will not run them. No item waits forever.
    fn abandon(self: &Arc<Self>) {
        let (abandoned, cancelled, drained) = {
            let mut state = self.lock();
            let mut abandoned: Vec<Batch<I, O, E>> = state.ready.drain(..).collect();
            abandoned.extend(state.open.take().map(|(batch, _)| batch));
            let cancelled = std::mem::take(&mut state.queued);
            let running_batches = state.in_flight;
            let report = state.report.get_or_insert(ShutdownReport {
                running_batches,
                ..ShutdownReport::default()
            });
            report.cancelled_items += cancelled;
            state.closed = true;
            self.publish(&state);
            (abandoned, cancelled, state.is_drained())
        };
        if cancelled > 0 {
            event!(
                warn,
                "uno_core::batch",
                name = %self.name,
                cancelled_items = cancelled,
                "batcher abandoned by its runtime; queued items are cancelled"
            );
        }
        drop(abandoned); // outside the lock: this wakes their callers
        if let Some(sem) = &self.queue_permits {
            sem.close();
        }
        self.notify_worker();
        if drained {
            self.drained.set();
        }
    }

    /// Reports a batch operation that ran from `started` over `size` items, and failed for
    /// `failure` if that is set.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn report_run(
        &self,
        outcome: &Result<Vec<O>, BatchError<E>>,
        size: usize,
        started: Instant,
        failure: Option<Failure>,
    ) {
        let duration = self.rt.now().saturating_duration_since(started);
        self.metrics.ran(duration, failure);
        match (failure, outcome) {
            (None, _) => {
                event!(
                    debug,
                    "uno_core::batch",
                    name = %self.name,
                    size,
                    ?duration,
                    "batch finished"
                );
            }
            (Some(_), Err(BatchError::Panicked { message, .. })) => {
                event!(
                    warn,
                    "uno_core::batch",
                    name = %self.name,
                    size,
                    reason = Failure::Panic.label(),
                    ?duration,
                    panic = %message,
                    "batch operation panicked"
                );
            }
            (Some(failure), _) => {
                event!(
                    warn,
                    "uno_core::batch",
                    name = %self.name,
                    size,
                    reason = failure.label(),
                    ?duration,
                    "batch failed"
                );
            }
        }
    }

    /// The report, once everything has drained.
    pub(super) fn report(&self) -> ShutdownReport {
        self.lock().report.unwrap_or_default()
    }
}

impl<I, O, E> fmt::Debug for Shared<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One in-flight slot, held by a runner. If the runner's future is dropped before it frees the
/// slot (even before its first poll), the slot is freed by this guard.
struct InFlight<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    shared: Arc<Shared<I, O, E>>,
    held: bool,
}

impl<I, O, E> Drop for InFlight<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    fn drop(&mut self) {
        if self.held {
            self.shared.abort_runner();
        }
    }
}

/// Runs `batch`, then the batches that queue up behind it, while it holds its in-flight slot.
async fn run_batches<I, O, E>(mut slot: InFlight<I, O, E>, mut batch: Batch<I, O, E>)
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    let mut back_to_back = 0u32;
    loop {
        let Batch { items, waiters } = batch;
        let shared = &slot.shared;
        let (size, started) = (items.len(), shared.rt.now());
        // If this future is dropped while awaiting, `waiters` answers every item `Cancelled`.
        let outcome = operation::call(&shared.op, &shared.name, items).await;
        let failure = failure(&outcome, size);
        shared.report_run(&outcome, size, started, failure);
        waiters.deliver(outcome);
        if shared.config.flush_when_idle {
            // Greedy: the callers just answered usually add their next items at once. Let them
            // run before the open batch is taken, so it goes out with them, not one item at a
            // time (as a channel's worker finds a full channel after its replies ran).
            crate::task::yield_now().await;
        }
        match slot.shared.next_or_release(failure.is_some()) {
            Some(next) => batch = next,
            None => {
                slot.held = false;
                return;
            }
        }
        back_to_back += 1;
        if back_to_back == BATCHES_BEFORE_YIELD {
            back_to_back = 0;
            crate::task::yield_now().await;
        }
    }
}

/// The worker's hold on the batcher. If the executor drops the worker (shutting down), the
/// batcher is abandoned, so nothing waits for a timer that will never fire.
struct WorkerGuard<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    shared: Arc<Shared<I, O, E>>,
    /// Set when the worker returns normally (the batcher is closed and flushed then).
    finished: bool,
}

impl<I, O, E> Drop for WorkerGuard<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    fn drop(&mut self) {
        if !self.finished {
            self.shared.abandon();
        }
    }
}

/// Creates the batcher's shared state and starts its timer worker on `rt`.
pub(super) fn start<I, O, E>(
    rt: &Runtime,
    name: Name,
    config: Config,
    op: Operation<I, O, E>,
) -> Arc<Shared<I, O, E>>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    let shared = Arc::new(Shared::new(rt, name, config, op));
    let guard = WorkerGuard {
        shared: shared.clone(),
        finished: false,
    };
    rt.spawn(run_worker(guard)).detach();
    shared
}

/// The batcher's one background task: flushes the open batch when its oldest item has waited
/// `max_wait_time`. Callers never own this timer, so a cancelled caller cannot strand a batch.
async fn run_worker<I, O, E>(mut guard: WorkerGuard<I, O, E>)
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    flush_on_time(&guard.shared).await;
    guard.finished = true;
}

/// The worker's loop; returns once the batcher is closed.
async fn flush_on_time<I, O, E>(shared: &Arc<Shared<I, O, E>>)
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    let mut sleep: Option<Pin<Box<dyn Sleep>>> = None;
    loop {
        let now = shared.rt.now();
        let (deadline, launch) = {
            let mut state = shared.lock();
            if state.closed {
                return;
            }
            match state.open.as_ref().map(|(_, deadline)| *deadline) {
                Some(deadline) if deadline <= now => {
                    let (batch, _) = state.open.take().expect("checked above");
                    state.stats.timed_flushes += 1;
                    state.worker_watching = false;
                    let launch = shared.dispatch(&mut state, batch, Flush::Timed);
                    shared.publish(&state);
                    (None, Some(launch))
                }
                Some(deadline) => {
                    state.worker_watching = true;
                    (Some(deadline), None)
                }
                None => {
                    state.worker_watching = false;
                    (None, None)
                }
            }
        };
        if let Some(launch) = launch {
            shared.finish_launch(launch);
            continue;
        }
        if let Some(deadline) = deadline {
            match &mut sleep {
                Some(sleep) if sleep.deadline() == deadline => {}
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => sleep = Some(shared.rt.sleep_until(deadline)),
            }
        }
        poll_fn(|cx| {
            shared.worker_waker.register(cx.waker());
            if shared.worker_notified.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            match (&mut sleep, deadline) {
                (Some(sleep), Some(_)) => sleep.as_mut().poll(cx),
                _ => Poll::Pending,
            }
        })
        .await;
    }
}
