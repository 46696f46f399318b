//! The machinery under [`TaskGroup`](super::TaskGroup): the children's slots, admission under a
//! concurrency bound, and the cell that lets the group drop a child's future itself.
//!
//! # Implementation notes
//!
//! - **One slot per child** in a slab ([`Slots`], the `slab` crate), keyed by an index that is
//!   reused once the slot is removed; a child's `id` (its spawn order) is never reused, so a stale key is detected.
//!   A slot lives while its child runs, and after that only while someone can still read its
//!   outcome (a live handle, or the group's stream): memory is bounded by the children alive plus
//!   the unread outcomes, however many children ran before.
//! - **Completion order** is a doubly linked list threaded through the slots (`prev`/`next`), so
//!   an outcome taken through a handle leaves the list at once instead of waiting in a queue for
//!   the stream to skip it.
//! - **Admission in spawn order.** Under `max_concurrency(n)`, a child is handed to the executor
//!   only when it holds one of the `n` places; the others wait in a FIFO queue (`waiting`) and are
//!   admitted, in spawn order, by the completion of a child that held a place. A waiting child that
//!   is cancelled is dropped where it waits, without ever being polled.
//! - **The group owns every child's future** ([`ChildCell`]): the executor's task only polls it
//!   through the cell's lock. That is what lets a dropped group drop every child's future before
//!   its own `drop` returns (Rust has no async drop, and the executor would otherwise drop them
//!   only when it next ran them). The group never *waits* for that lock — a child being polled at
//!   that moment (on another thread, or re-entrantly on this one) may be blocked on something the
//!   dropping thread holds. It raises the cell's `abort` flag and tries the lock; the poller checks
//!   the flag under the lock after its poll, and once more after unlocking, with a `SeqCst` fence
//!   on both sides (Dekker's pattern): either the group gets the lock, or the poller sees the flag
//!   and drops the future as soon as its poll returns.
//! - **Every end of a child goes through `crate::panic::catch`**: its poll, the drop of its future
//!   after it finished or was cancelled, and the drop from the group. A panic in any of them is
//!   the child's outcome ([`ChildError::Panicked`], with its payload), so a cancelled child whose clean-up panics is
//!   a failure, never "merely cancelled".

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::task::{Context, Poll, Waker};

use event_listener::Event;
use slab::Slab;

use crate::loom::{Mutex, MutexGuard};
use crate::observe::{Name, event};
use crate::panic;
use crate::rt::Runtime;
use crate::sync::{Cancellable, CancellationToken, cancellable};
use crate::task::metrics::{Outcome, TaskMetrics};

use super::ChildError;

/// A child's id (its spawn order) and outcome.
pub(super) type Entry<T, E> = (u64, Result<T, ChildError<E>>);

/// What a group does when a child fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    FailFast,
    Supervisor,
}

/// Where a child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Spawned under a full concurrency bound: queued, not yet handed to the executor.
    Waiting,
    /// Handed to the executor (and holding a place, if the group is bounded).
    Running,
    /// Its future has been dropped and its outcome recorded.
    Done,
}

pub(super) struct Slot<T, E> {
    /// The child's id: a slot's key is reused once the slot is removed, its id never is.
    id: u64,
    phase: Phase,
    outcome: Option<Result<T, ChildError<E>>>,
    /// The outcome went to one receiver (handle or stream); the other sees `AlreadyTaken`.
    taken: bool,
    handle_alive: bool,
    waker: Option<Waker>,
    /// The child's future, until it is done: how the group starts, aborts and drops it.
    cell: Option<Arc<dyn ChildControl>>,
    /// In the completion list (done, outcome not taken yet).
    listed: bool,
    prev: Option<usize>,
    next: Option<usize>,
}

/// The children's slots in a slab, by key: an index reused once its slot is removed. No hashing,
/// and it never grows past the most slots alive at once. A key may hold a younger child by the
/// time a stale handle asks, so lookups check the child's `id` too.
struct Slots<T, E> {
    slab: Slab<Slot<T, E>>,
}

impl<T, E> Slots<T, E> {
    fn new() -> Self {
        Slots { slab: Slab::new() }
    }

    fn len(&self) -> usize {
        self.slab.len()
    }

    fn insert(&mut self, slot: Slot<T, E>) -> usize {
        self.slab.insert(slot)
    }

    /// The slot of child `id`, unless it was removed (its key may hold a younger child by now).
    fn get(&self, key: usize, id: u64) -> Option<&Slot<T, E>> {
        self.slab.get(key).filter(|slot| slot.id == id)
    }

    fn get_mut(&mut self, key: usize, id: u64) -> Option<&mut Slot<T, E>> {
        self.slab.get_mut(key).filter(|slot| slot.id == id)
    }

    /// The slot at `key`, which the caller knows to be occupied (it is in a list).
    fn at(&mut self, key: usize) -> &mut Slot<T, E> {
        &mut self.slab[key]
    }

    /// Removes the slot at `key`, which the caller just found with [`get_mut`](Self::get_mut).
    fn remove(&mut self, key: usize) {
        self.slab.remove(key);
        if self.slab.is_empty() {
            // Keep the capacity, drop the free list: keys start from 0 again.
            self.slab.clear();
        }
    }

    /// Every child not done yet.
    fn cells(&self) -> impl Iterator<Item = Arc<dyn ChildControl>> + '_ {
        self.slab.iter().filter_map(|(_, slot)| slot.cell.clone())
    }
}

pub(super) struct State<T, E> {
    slots: Slots<T, E>,
    /// Completion list: the oldest unread outcome first.
    head: Option<usize>,
    tail: Option<usize>,
    /// Children waiting for a place, in spawn order (key, id).
    waiting: VecDeque<(usize, u64)>,
    /// Children holding a place (running on the executor, in a bounded group).
    active: usize,
    /// Children spawned and not yet done (waiting or running).
    pub(super) running: usize,
    stream_waker: Option<Waker>,
    /// The first failure, in fail-fast mode: its name. Siblings have been cancelled.
    pub(super) failed: Option<Arc<str>>,
    /// Dropped or shut down: new children start cancelled.
    pub(super) closed: bool,
}

impl<T, E> State<T, E> {
    /// Slots that may still report an outcome: a capacity hint for `join_all`.
    pub(super) fn slots_alive(&self) -> usize {
        self.slots.len()
    }

    fn push_completed(&mut self, key: usize) {
        let tail = self.tail;
        let slot = self.slots.at(key);
        slot.listed = true;
        slot.prev = tail;
        slot.next = None;
        match tail {
            Some(tail) => self.slots.at(tail).next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
    }

    fn unlink(&mut self, key: usize) {
        let slot = self.slots.at(key);
        if !slot.listed {
            return;
        }
        slot.listed = false;
        let (prev, next) = (slot.prev.take(), slot.next.take());
        match prev {
            Some(prev) => self.slots.at(prev).next = next,
            None => self.head = next,
        }
        match next {
            Some(next) => self.slots.at(next).prev = prev,
            None => self.tail = prev,
        }
    }

    /// Takes every waiting child out of the queue (the group failed or closed): the caller aborts
    /// them outside the lock.
    fn drain_waiting(&mut self) -> Vec<Arc<dyn ChildControl>> {
        let waiting = std::mem::take(&mut self.waiting);
        waiting
            .into_iter()
            .filter_map(|(key, id)| {
                let slot = self.slots.get_mut(key, id)?;
                (slot.phase == Phase::Waiting).then(|| slot.cell.clone())?
            })
            .collect()
    }

    /// Every child not done yet: for the group's drop.
    fn all_cells(&mut self) -> Vec<Arc<dyn ChildControl>> {
        self.waiting.clear();
        self.slots.cells().collect()
    }
}

pub(super) struct Shared<T, E> {
    pub(super) rt: Runtime,
    pub(super) name: Name,
    metrics: TaskMetrics,
    pub(super) mode: Mode,
    /// The concurrency bound, if any.
    limit: Option<usize>,
    /// Cancels every running child; each child watches a child token of it.
    pub(super) token: CancellationToken,
    state: Mutex<State<T, E>>,
    /// Notified on every completion and on failure (for `shutdown` and `task_group`).
    pub(super) changed: Event,
    next_id: AtomicU64,
}

impl<T, E> Shared<T, E> {
    pub(super) fn new(rt: Runtime, name: Name, mode: Mode, limit: Option<usize>) -> Self {
        Shared {
            rt,
            metrics: TaskMetrics::group(&name),
            name,
            mode,
            limit,
            token: CancellationToken::new(),
            state: Mutex::new(State {
                slots: Slots::new(),
                head: None,
                tail: None,
                waiting: VecDeque::new(),
                active: 0,
                running: 0,
                stream_waker: None,
                failed: None,
                closed: false,
            }),
            changed: Event::new(),
            next_id: AtomicU64::new(0),
        }
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State<T, E>> {
        self.state.lock()
    }

    /// Records a child's outcome. Called exactly once per child, after its future was dropped.
    fn complete(&self, key: usize, id: u64, outcome: Result<T, ChildError<E>>) {
        let mut to_abort = Vec::new();
        let mut to_start = None;
        let mut cancel_all = false;
        let (handle_waker, stream_waker, _cell) = {
            let mut state = self.state();
            state.running -= 1;
            let Some(slot) = state.slots.get_mut(key, id) else {
                unreachable!("a child's slot lives until its outcome is recorded");
            };
            let held_place = slot.phase == Phase::Running;
            slot.phase = Phase::Done;
            let handle_waker = slot.waker.take();
            let cell = slot.cell.take();
            self.metrics.finished(match &outcome {
                Ok(_) => Outcome::Ok,
                Err(error) => error.outcome(),
            });
            let failure = outcome.as_ref().err().filter(|e| e.is_failure());
            if let Some(error) = failure {
                self.report_failure(error);
            }
            if let Some(error) = failure
                && self.mode == Mode::FailFast
                && state.failed.is_none()
            {
                event!(
                    debug,
                    "uno_core::task",
                    name = %self.name,
                    task = error.name(),
                    "task group cancelling the other children after a failure"
                );
                state.failed = Some(error.name().into());
                cancel_all = true;
                to_abort = state.drain_waiting();
            }
            state.slots.at(key).outcome = Some(outcome);
            state.push_completed(key);
            if held_place && self.limit.is_some() {
                state.active -= 1;
                to_start = self.admit_next(&mut state);
            }
            (handle_waker, state.stream_waker.take(), cell)
        };
        if cancel_all {
            // Outside the state lock: cancelling wakes (and may run) the siblings.
            self.token.cancel();
        }
        to_abort.iter().for_each(|child| child.abort());
        if let Some(child) = to_start {
            child.start(&self.rt);
        }
        handle_waker
            .into_iter()
            .chain(stream_waker)
            .for_each(Waker::wake);
        self.changed.notify(usize::MAX);
    }

    /// The WARN event of a child that failed or panicked.
    fn report_failure(&self, error: &ChildError<E>) {
        #[cfg(not(feature = "tracing"))]
        let _ = error;
        #[cfg(feature = "tracing")]
        match error {
            ChildError::Panicked { name, message, .. } => {
                event!(
                    warn,
                    "uno_core::task",
                    name = %self.name,
                    task = name.as_str(),
                    panic = message.as_str(),
                    "task group child panicked"
                );
            }
            _ => {
                event!(
                    warn,
                    "uno_core::task",
                    name = %self.name,
                    task = error.name(),
                    "task group child failed"
                );
            }
        }
    }

    /// Gives the freed place to the oldest waiting child, if any: the caller starts it.
    fn admit_next(&self, state: &mut State<T, E>) -> Option<Arc<dyn ChildControl>> {
        while let Some((key, id)) = state.waiting.pop_front() {
            if let Some(slot) = state.slots.get_mut(key, id)
                && slot.phase == Phase::Waiting
            {
                slot.phase = Phase::Running;
                let cell = slot.cell.clone();
                state.active += 1;
                return cell;
            }
        }
        None
    }

    /// The next outcome in completion order that no handle has taken.
    pub(super) fn poll_next_entry(&self, cx: &mut Context<'_>) -> Poll<Option<Entry<T, E>>> {
        let mut state = self.state();
        if let Some(key) = state.head {
            state.unlink(key);
            let slot = state.slots.at(key);
            slot.taken = true;
            let id = slot.id;
            let outcome = slot.outcome.take();
            if !slot.handle_alive {
                state.slots.remove(key);
            }
            let outcome = outcome.expect("a listed child has its outcome");
            return Poll::Ready(Some((id, outcome)));
        }
        if state.running == 0 {
            return Poll::Ready(None);
        }
        state.stream_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The child's outcome for its handle, or `None` (with the waker stored) while it runs.
    /// `Some(Err(AlreadyTaken))`-style answers are left to the caller: `Err(())` means taken.
    pub(super) fn poll_child(
        &self,
        key: usize,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Result<T, ChildError<E>>, ()>> {
        let mut state = self.state();
        let Some(slot) = state.slots.get_mut(key, id) else {
            return Poll::Ready(Err(()));
        };
        if slot.taken {
            return Poll::Ready(Err(()));
        }
        if let Some(outcome) = slot.outcome.take() {
            slot.taken = true;
            state.unlink(key);
            return Poll::Ready(Ok(outcome));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Whether child `id` is done (its outcome recorded, or already taken and gone).
    pub(super) fn is_child_done(&self, key: usize, id: u64) -> bool {
        let state = self.state();
        state
            .slots
            .get(key, id)
            .is_none_or(|slot| slot.phase == Phase::Done)
    }

    /// The child's handle is gone: its slot stays only while the stream can still read it.
    pub(super) fn release_handle(&self, key: usize, id: u64) {
        let mut state = self.state();
        if let Some(slot) = state.slots.get_mut(key, id) {
            slot.handle_alive = false;
            slot.waker = None;
            if slot.taken {
                state.slots.remove(key);
            }
        }
    }

    /// Cancels one child: a waiting one is dropped where it waits, a running one is cancelled
    /// through its token (its future is dropped at its next poll).
    pub(super) fn cancel_child(&self, key: usize, id: u64, token: &CancellationToken) {
        let waiting = {
            let mut state = self.state();
            match state.slots.get_mut(key, id) {
                Some(slot) if slot.phase == Phase::Waiting => {
                    let cell = slot.cell.clone();
                    state.waiting.retain(|&(k, i)| (k, i) != (key, id));
                    cell
                }
                _ => None,
            }
        };
        token.cancel();
        if let Some(child) = waiting {
            child.abort();
        }
    }

    /// Closes the group and cancels every child: waiting ones are dropped at once, running ones
    /// through the token.
    pub(super) fn cancel_all(&self) {
        let waiting = {
            let mut state = self.state();
            state.closed = true;
            state.drain_waiting()
        };
        self.token.cancel();
        waiting.iter().for_each(|child| child.abort());
    }

    /// Closes the group and drops every child's future on this thread before returning (the
    /// group's `Drop`): nothing outlives the group.
    pub(super) fn abort_all(&self) {
        let children = {
            let mut state = self.state();
            state.closed = true;
            state.all_cells()
        };
        self.token.cancel();
        children.iter().for_each(|child| child.abort());
    }
}

impl<T, E> Shared<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Adds a child: started at once, queued for a place, or (in a closed or failed group)
    /// completed as cancelled without ever being polled.
    pub(super) fn spawn<F>(
        self: &Arc<Self>,
        name: String,
        token: CancellationToken,
        future: F,
    ) -> (usize, u64, Arc<dyn ChildControl>)
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        let dead = state.closed || state.failed.is_some();
        // A child of a dead group never holds a place: it is finished below without running.
        let phase = if !dead && self.limit.is_none_or(|limit| state.active < limit) {
            Phase::Running
        } else {
            Phase::Waiting
        };
        let key = state.slots.insert(Slot {
            id,
            phase,
            outcome: None,
            taken: false,
            handle_alive: true,
            waker: None,
            cell: None,
            listed: false,
            prev: None,
            next: None,
        });
        state.running += 1;
        self.metrics.spawned();
        let cell: Arc<dyn ChildControl> = Arc::new(ChildCell {
            shared: self.clone(),
            key,
            id,
            name,
            abort: AtomicBool::new(false),
            run: Mutex::new(Some(Box::pin(cancellable(&token, future)))),
        });
        state.slots.at(key).cell = Some(cell.clone());
        if dead {
            // Never polled: the future is dropped here (its drop may still panic: a failure).
            drop(state);
            token.cancel();
            cell.abort();
            return (key, id, cell);
        }
        if phase == Phase::Waiting {
            state.waiting.push_back((key, id));
            return (key, id, cell);
        }
        if self.limit.is_some() {
            state.active += 1;
        }
        drop(state);
        cell.clone().start(&self.rt);
        (key, id, cell)
    }
}

/// How the group drives a child whose future type it has forgotten (and how its handle reads
/// the child's name, kept here rather than in an allocation of its own).
pub(super) trait ChildControl: Send + Sync {
    /// The child's name.
    fn name(&self) -> &str;
    /// Hands the child to the executor.
    fn start(self: Arc<Self>, rt: &Runtime);
    /// Drops the child's future now, on this thread, and records it as cancelled (or panicked, if
    /// the drop panics). Never waits: if the future is being polled right now, that poll drops it
    /// as soon as it returns. Does nothing if the child is done.
    fn abort(&self);
}

/// One child's future, shared by the executor's task (which polls it) and the group (which may
/// drop it first).
struct ChildCell<T, E, F> {
    shared: Arc<Shared<T, E>>,
    key: usize,
    id: u64,
    name: String,
    /// The group asked for the future to be dropped (see the implementation notes).
    abort: AtomicBool,
    /// The future, boxed so that it stays pinned while the cell is shared; `None` once dropped.
    run: Mutex<Option<Pin<Box<Cancellable<F>>>>>,
}

type Run<F> = Option<Pin<Box<Cancellable<F>>>>;

impl<T, E, F> ChildCell<T, E, F>
where
    F: Future<Output = Result<T, E>>,
{
    fn run(&self) -> MutexGuard<'_, Run<F>> {
        // User code runs under this lock only inside `catch_unwind`.
        self.run.lock()
    }

    /// Drops the future in `run`, catching a panic from its `Drop`.
    fn drop_future(run: &mut Run<F>) -> Result<(), Box<dyn std::any::Any + Send>> {
        panic::catch(|| *run = None)
    }

    /// Drops a future that did not finish and records the child as cancelled or panicked.
    fn finish_unfinished(&self, mut run: MutexGuard<'_, Run<F>>) {
        if run.is_none() {
            return;
        }
        let dropped = Self::drop_future(&mut run);
        drop(run);
        let name = self.name.clone();
        let outcome = match dropped {
            Ok(()) => ChildError::Cancelled { name },
            Err(payload) => ChildError::panicked(name, payload),
        };
        self.shared.complete(self.key, self.id, Err(outcome));
    }

    fn poll_future(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut run = self.run();
        let Some(future) = run.as_mut() else {
            return Poll::Ready(()); // dropped by the group already
        };
        let polled = panic::catch(|| future.as_mut().poll(cx));
        let name = || self.name.clone();
        let outcome = match polled {
            Ok(Poll::Pending) => {
                // The group may have asked for an abort while we held the lock (from another
                // thread, or from inside this very poll): finish the child for it.
                if self.abort.load(Ordering::SeqCst) {
                    self.finish_unfinished(run);
                    return Poll::Ready(());
                }
                drop(run);
                fence(Ordering::SeqCst);
                if self.abort.load(Ordering::SeqCst) {
                    self.finish_unfinished(self.run());
                    return Poll::Ready(());
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(Ok(Ok(value)))) => Ok(value),
            Ok(Poll::Ready(Ok(Err(error)))) => Err(ChildError::Failed {
                name: name(),
                error,
            }),
            Ok(Poll::Ready(Err(_cancelled))) => Err(ChildError::Cancelled { name: name() }),
            Err(payload) => Err(ChildError::panicked(name(), payload)),
        };
        // Dropped under the lock: a group dropped from inside this drop leaves this child to us.
        let dropped = Self::drop_future(&mut run);
        drop(run);
        // A panic while dropping a finished or cancelled future is that child's failure; a failure
        // already recorded (an error, or a panic in poll) keeps its own value.
        let outcome = match (outcome, dropped) {
            (Ok(_) | Err(ChildError::Cancelled { .. }), Err(payload)) => {
                Err(ChildError::panicked(name(), payload))
            }
            (outcome, _) => outcome,
        };
        self.shared.complete(self.key, self.id, outcome);
        Poll::Ready(())
    }
}

impl<T, E, F> ChildControl for ChildCell<T, E, F>
where
    T: Send + 'static,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn start(self: Arc<Self>, rt: &Runtime) {
        rt.spawner().spawn_boxed(Box::pin(ChildTask { cell: self }));
    }

    fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // `None`: being polled; that poll sees the flag and finishes the child when it returns.
        if let Some(run) = self.run.try_lock() {
            self.finish_unfinished(run);
        }
    }
}

/// What the executor runs for one child: polls the cell, and finishes the child if the executor
/// drops it first (its runtime shut down).
struct ChildTask<T, E, F: Future<Output = Result<T, E>>> {
    cell: Arc<ChildCell<T, E, F>>,
}

impl<T, E, F> Future for ChildTask<T, E, F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.cell.poll_future(cx)
    }
}

impl<T, E, F> Drop for ChildTask<T, E, F>
where
    F: Future<Output = Result<T, E>>,
{
    fn drop(&mut self) {
        self.cell.finish_unfinished(self.cell.run());
    }
}

#[cfg(test)]
mod tests {
    use crate::rt::VirtualRuntime;
    use crate::task::TaskGroup;

    /// One million children one after another would grow a completion queue without end if
    /// outcomes taken through handles stayed queued; slots and list must stay at one child.
    #[test]
    fn memory_is_bounded_by_children_alive() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        vrt.block_on(async move {
            let group = TaskGroup::<usize, ()>::new(&rt);
            for i in 0..20_000usize {
                let child = group.spawn("sequential", async move { Ok(i) });
                assert_eq!(child.await.unwrap(), i);
                let state = group.shared.state();
                assert_eq!(state.slots_alive(), 0, "child {i} left its slot behind");
                assert!(state.head.is_none() && state.tail.is_none());
                assert!(state.slots.slab.capacity() <= 4);
            }
        });
    }

    /// Unread outcomes stay (the stream can still read them), in completion order.
    #[test]
    fn unread_outcomes_stay_listed_in_completion_order() {
        let vrt = VirtualRuntime::new();
        let rt = vrt.handle();
        vrt.block_on(async move {
            let mut group = TaskGroup::<usize, ()>::new(&rt);
            let handles: Vec<_> = (0..5usize)
                .map(|i| group.spawn("c", async move { Ok(i) }))
                .collect();
            crate::task::yield_now().await;
            drop(handles);
            assert_eq!(group.shared.state().slots_alive(), 5);
            let mut order = Vec::new();
            while let Some(outcome) = group.next().await {
                order.push(outcome.unwrap());
            }
            assert_eq!(order, [0, 1, 2, 3, 4]);
            assert_eq!(group.shared.state().slots_alive(), 0);
        });
    }
}
