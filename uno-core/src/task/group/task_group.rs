//! [`TaskGroup`] itself: spawning, the stream of outcomes, `join_all`, cancelling and shutting
//! down.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::state::Shared;
use super::{ChildError, ChildHandle, GroupError, GroupSpawner, TaskGroupBuilder};
use crate::observe::event;
use crate::rt::Runtime;

/// A scope for child tasks: **no child outlives the group**.
///
/// - [`spawn`](Self::spawn) starts a named child (a future returning `Result<T, E>`) and returns a
///   [`ChildHandle`] whose outcome can be awaited;
/// - the group is a [`Stream`] of outcomes in completion order ([`next`](Self::next)), and
///   [`join_all`](Self::join_all) waits for all of them;
/// - **fail-fast** (the default): the first child that returns `Err` or panics cancels its
///   siblings; `join_all` returns that error first and every other failure after it
///   ([`GroupError`]). In [supervisor](TaskGroupBuilder::supervisor) mode the siblings run on;
/// - a child panic is a value naming the child ([`ChildError::Panicked`]), re-raised only on request
///   ([`ChildError::resume_panic`]); nothing here panics because a child was cancelled;
/// - **dropping the group drops every child's future before `drop` returns**, on this thread
///   (the group owns them; the executor only polls them). The one exception: a child that is
///   being polled at that very moment (on another thread, or the poll that is dropping the
///   group) is not waited for — that could deadlock — and its future is dropped as soon as that
///   poll returns, before the child runs again. [`shutdown`](Self::shutdown) is the async form:
///   it cancels every child and waits until every future has been dropped;
/// - a panic while a child's future is **dropped** — after it finished, when it is cancelled, or
///   with the group — is that child's failure ([`ChildError::Panicked`]), not a cancellation.
///
/// Each outcome is delivered once: to the child's handle or to the group's stream, whichever asks
/// first; the other gets [`ChildError::AlreadyTaken`] (handle) or skips it (stream). Memory is
/// bounded by the children alive plus the outcomes nobody has read yet.
///
/// # Which children run after a failure
///
/// A fail-fast group **never starts a child after its first failure is recorded** (Kotlin's
/// rule, not trio's): a child spawned later, or not yet polled by the executor, or waiting for a
/// place under [`max_concurrency`](TaskGroupBuilder::max_concurrency), ends as
/// [`ChildError::Cancelled`] without its future ever being polled. Children already running are
/// cancelled at their next await point. So two children that would both fail at once may report
/// one failure: the second never ran.
///
/// ```
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::TaskGroup;
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let group = TaskGroup::<(), &str>::new(&rt);
///     group.spawn("a", async { Err("a failed") });
///     group.spawn("b", async { Err("b failed") }); // not polled before a's failure
///     let err = group.join_all().await.unwrap_err();
///     assert_eq!(err.names(), ["a"]); // b was cancelled before its first poll
/// });
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::{ChildError, TaskGroup};
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// vrt.block_on(async move {
///     let group = TaskGroup::new(&rt);
///     let rt2 = rt.clone();
///     group.spawn("slow", async move {
///         rt2.sleep(Duration::from_secs(60)).await;
///         Ok(1)
///     });
///     group.spawn("broken", async { Err("no database") });
///     // Fail-fast: "broken" cancels "slow" at once.
///     let err = group.join_all().await.unwrap_err();
///     assert!(matches!(
///         err.first,
///         ChildError::Failed { ref name, error: "no database" } if name == "broken"
///     ));
///     assert!(err.others.is_empty());
/// });
/// ```
pub struct TaskGroup<T, E> {
    pub(super) shared: Arc<Shared<T, E>>,
}

impl<T, E> TaskGroup<T, E> {
    /// A fail-fast, unbounded group on `rt`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<u32, String>::new(&rt);
    /// group.spawn("one", async { Ok(1) });
    /// group.spawn("two", async { Ok(2) });
    /// assert_eq!(group.join_all().await.unwrap(), [1, 2]);
    /// # });
    /// ```
    pub fn new(rt: &Runtime) -> Self {
        Self::builder(rt)
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder, to choose supervisor mode or a concurrency bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let group = TaskGroup::<u32, String>::builder(&rt)
    ///     .supervisor()
    ///     .max_concurrency(16)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(group.running(), 0);
    /// ```
    pub fn builder(rt: &Runtime) -> TaskGroupBuilder<T, E> {
        TaskGroupBuilder::new(rt)
    }

    /// The group's name, given to [`TaskGroupBuilder::name`] (default `"task_group"`).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// assert_eq!(TaskGroup::<(), ()>::new(&rt).name(), "task_group");
    /// let named = TaskGroup::<(), ()>::builder(&rt).name("crawlers").build().unwrap();
    /// assert_eq!(named.name(), "crawlers");
    /// ```
    pub fn name(&self) -> &str {
        self.shared.name.as_str()
    }

    /// A cloneable handle that spawns into this group, for children that spawn siblings.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<u32, ()>::new(&rt);
    /// let spawner = group.spawner(); // cloneable, `'static`
    /// spawner.spawn("via-spawner", async { Ok(7) });
    /// assert_eq!(group.join_all().await.unwrap(), [7]);
    /// // The group is gone: children spawned now start cancelled.
    /// let late = spawner.spawn("late", async { Ok(8) });
    /// assert!(late.await.unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn spawner(&self) -> GroupSpawner<T, E> {
        GroupSpawner {
            shared: self.shared.clone(),
        }
    }

    /// Children spawned and not yet finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), ()>::new(&rt);
    /// group.spawn("server", std::future::pending());
    /// assert_eq!(group.running(), 1);
    /// group.shutdown().await;
    /// assert_eq!(group.running(), 0);
    /// # });
    /// ```
    pub fn running(&self) -> usize {
        self.shared.state().running
    }

    /// The name of the child whose failure cancelled the others, in fail-fast mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let mut group = TaskGroup::<(), &str>::new(&rt);
    /// group.spawn("flaky", async { Err("timeout") });
    /// assert_eq!(group.failed(), None);
    /// let _ = group.next().await;
    /// assert_eq!(group.failed().as_deref(), Some("flaky"));
    /// # });
    /// ```
    pub fn failed(&self) -> Option<String> {
        self.shared.state().failed.as_deref().map(str::to_owned)
    }

    /// Cancels every child and closes the group: children spawned afterwards start cancelled.
    ///
    /// Use [`shutdown`](Self::shutdown) to also wait for the cancelled futures to be dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), ()>::new(&rt);
    /// let worker = group.spawn("worker", std::future::pending());
    /// group.cancel_all();
    /// assert!(worker.await.unwrap_err().is_cancelled());
    /// let late = group.spawn("late", async { Ok(()) }); // the group is closed
    /// assert!(late.await.unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn cancel_all(&self) {
        self.shared.cancel_all();
    }

    /// Cancels every child and waits until each child's future has been dropped. Children spawned
    /// later start cancelled.
    ///
    /// The outcomes (mostly [`ChildError::Cancelled`]) stay available through the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let mut group = TaskGroup::<(), ()>::new(&rt);
    /// group.spawn("server", std::future::pending());
    /// group.shutdown().await; // every child future has been dropped
    /// assert_eq!(group.running(), 0);
    /// let outcome = group.next().await.unwrap(); // outcomes stay available
    /// assert!(outcome.unwrap_err().is_cancelled());
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the children are cancelled as soon as this is first polled; dropping the future
    /// only gives up waiting for them to be dropped.
    pub async fn shutdown(&self) {
        self.cancel_all();
        self.wait_idle().await;
        event!(
            debug,
            "uno_core::task",
            name = %self.shared.name,
            "task group shut down"
        );
    }

    async fn wait_idle(&self) {
        loop {
            if self.shared.state().running == 0 {
                return;
            }
            let listener = self.shared.changed.listen();
            if self.shared.state().running == 0 {
                return;
            }
            listener.await;
        }
    }

    /// The next outcome in completion order, or `None` once no child is left running and every
    /// outcome has been taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let mut group = TaskGroup::<u64, ()>::new(&rt);
    /// for secs in [3, 1, 2] {
    ///     let rt = rt.clone();
    ///     group.spawn(format!("{secs}s"), async move {
    ///         rt.sleep(Duration::from_secs(secs)).await;
    ///         Ok(secs)
    ///     });
    /// }
    /// let mut order = Vec::new();
    /// while let Some(outcome) = group.next().await {
    ///     order.push(outcome.unwrap());
    /// }
    /// assert_eq!(order, [1, 2, 3]); // completion order
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an outcome is only taken when this future returns it.
    pub async fn next(&mut self) -> Option<Result<T, ChildError<E>>> {
        poll_fn(|cx| self.shared.poll_next_entry(cx))
            .await
            .map(|(_, outcome)| outcome)
    }

    /// Waits for every child and returns their outputs **in spawn order**, or the first failure
    /// with every other failure collected ([`GroupError`]).
    ///
    /// Cancelled children are not failures and are left out of both; so are outcomes already
    /// taken through a [`ChildHandle`] or [`next`](Self::next).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<u64, String>::new(&rt);
    /// for secs in [2, 1] {
    ///     let rt = rt.clone();
    ///     group.spawn(format!("{secs}s"), async move {
    ///         rt.sleep(Duration::from_secs(secs)).await;
    ///         Ok(secs)
    ///     });
    /// }
    /// assert_eq!(group.join_all().await.unwrap(), [2, 1]); // spawn order, not completion order
    ///
    /// let group = TaskGroup::<u64, String>::new(&rt);
    /// group.spawn("import", async { Err("disk full".to_string()) });
    /// let err = group.join_all().await.unwrap_err();
    /// assert_eq!(err.first.into_error().as_deref(), Some("disk full"));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the group, which cancels every child and loses
    /// the outcomes gathered so far.
    pub async fn join_all(self) -> Result<Vec<T>, GroupError<E>> {
        // Every child with a slot may still report, so that many outputs at most (unless more are
        // spawned): sized once instead of growing (and copying) through 10k children.
        let mut outputs = Vec::with_capacity(self.shared.state().slots_alive());
        let mut errors = Vec::new();
        while let Some((id, outcome)) = poll_fn(|cx| self.shared.poll_next_entry(cx)).await {
            match outcome {
                Ok(value) => outputs.push((id, value)),
                Err(error) if error.is_failure() => errors.push(error),
                Err(_) => {}
            }
        }
        let mut errors = errors.into_iter();
        match errors.next() {
            Some(first) => Err(GroupError {
                group: self.shared.name.shared(),
                first,
                others: errors.collect(),
            }),
            None => {
                outputs.sort_by_key(|(id, _)| *id);
                Ok(outputs.into_iter().map(|(_, value)| value).collect())
            }
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> TaskGroup<T, E> {
    /// Starts a child named `name` and returns its handle.
    ///
    /// The child starts at once (or when a slot frees up, under
    /// [`max_concurrency`](TaskGroupBuilder::max_concurrency)). In a group that has failed
    /// (fail-fast) or been shut down, it starts cancelled. Dropping the handle does **not** cancel
    /// the child: the group owns it.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<String, ()>::new(&rt);
    /// let greeter = group.spawn("greeter", async { Ok("hello".to_string()) });
    /// assert_eq!(greeter.await.unwrap(), "hello".to_string());
    /// assert!(group.join_all().await.unwrap().is_empty()); // the handle took the outcome
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned [`ChildHandle`], or a future awaiting it, loses nothing: the child
    /// runs on (the group owns it), and its outcome goes to the group's stream and
    /// [`join_all`](Self::join_all) instead.
    pub fn spawn<F>(&self, name: impl Into<String>, future: F) -> ChildHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        spawn_child(&self.shared, name.into(), future)
    }
}

pub(super) fn spawn_child<T, E, F>(
    shared: &Arc<Shared<T, E>>,
    name: String,
    future: F,
) -> ChildHandle<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    let token = shared.token.child_token();
    // With `tracing`, each child runs inside a span named after it and its group, so its events
    // carry both; the span's parent is the spawner's current span.
    #[cfg(feature = "tracing")]
    let future = tracing::Instrument::instrument(
        future,
        tracing::info_span!("uno_task", name = %shared.name, task = %name),
    );
    // The name lives in the child's cell, which the handle shares: no allocation of its own.
    let (key, id, cell) = shared.spawn(name, token.clone(), future);
    ChildHandle {
        shared: shared.clone(),
        key,
        id,
        cell,
        token,
        done: false,
    }
}

impl<T, E> Stream for TaskGroup<T, E> {
    type Item = Result<T, ChildError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared
            .poll_next_entry(cx)
            .map(|entry| entry.map(|(_, outcome)| outcome))
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        // Every child's future is dropped here, on this thread, before `drop` returns.
        self.shared.abort_all();
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        f.debug_struct("TaskGroup")
            .field("name", &self.shared.name)
            .field("mode", &self.shared.mode)
            .field("running", &state.running)
            .field("failed", &state.failed)
            .finish_non_exhaustive()
    }
}
