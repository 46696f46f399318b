//! [`TaskGroupBuilder`]: fail-fast or supervisor, and a bound on the children running at once.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::state::{Mode, Shared};
use super::{GroupConfigError, TaskGroup};
use crate::observe::Name;
use crate::rt::Runtime;

/// Configures a [`TaskGroup`]: its name, fail-fast (the default) or supervisor, and an optional
/// bound on the children running at once.
///
/// # Examples
///
/// ```
/// use uno_core::rt::VirtualRuntime;
/// use uno_core::task::{GroupConfigError, TaskGroup};
///
/// let vrt = VirtualRuntime::new();
/// let rt = vrt.handle();
/// let group = TaskGroup::<u32, String>::builder(&rt)
///     .name("imports")
///     .supervisor()
///     .max_concurrency(4)
///     .build()
///     .unwrap();
/// assert_eq!(group.name(), "imports");
/// let bad = TaskGroup::<u32, String>::builder(&rt).max_concurrency(0).build();
/// assert_eq!(bad.unwrap_err(), GroupConfigError::ZeroConcurrency);
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct TaskGroupBuilder<T, E> {
    rt: Runtime,
    name: Name,
    mode: Mode,
    max_concurrency: Option<usize>,
    types: PhantomData<fn() -> (T, E)>,
}

impl<T, E> TaskGroupBuilder<T, E> {
    pub(super) fn new(rt: &Runtime) -> Self {
        TaskGroupBuilder {
            rt: rt.clone(),
            name: Name::kind("task_group"),
            mode: Mode::FailFast,
            max_concurrency: None,
            types: PhantomData,
        }
    }

    /// The group's name (default `"task_group"`): in its [`GroupError`](super::GroupError)s, in
    /// the `name` label of its metrics and in the `name` field of its children's spans and its
    /// events.
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
    /// let group = TaskGroup::<(), &str>::builder(&rt).name("imports").build().unwrap();
    /// group.spawn("prices", async { Err("missing file") });
    /// let err = group.join_all().await.unwrap_err();
    /// assert_eq!(&*err.group, "imports");
    /// assert_eq!(err.to_string(), r#"task group "imports" failed: 1 child failed"#);
    /// # });
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Fail-fast (the default): the first child that fails or panics cancels its siblings.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::TaskGroup;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let group = TaskGroup::<(), &str>::builder(&rt).fail_fast().build().unwrap();
    /// let rt2 = rt.clone();
    /// group.spawn("slow", async move { Ok(rt2.sleep(Duration::from_secs(60)).await) });
    /// group.spawn("bad", async { Err("boom") });
    /// let err = group.join_all().await.unwrap_err();
    /// assert_eq!(err.names(), ["bad"]); // "slow" was cancelled, which is not a failure
    /// # });
    /// ```
    pub fn fail_fast(mut self) -> Self {
        self.mode = Mode::FailFast;
        self
    }

    /// Supervisor mode: a failing child does not disturb its siblings; every failure is collected.
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
    /// let group = TaskGroup::<u32, &str>::builder(&rt).supervisor().build().unwrap();
    /// group.spawn("a", async { Err("a broke") });
    /// let b = group.spawn("b", async { Ok(2) });
    /// group.spawn("c", async { Err("c broke") });
    /// assert_eq!(b.await.unwrap(), 2); // not cancelled by a's failure
    /// assert_eq!(group.join_all().await.unwrap_err().names(), ["a", "c"]);
    /// # });
    /// ```
    pub fn supervisor(mut self) -> Self {
        self.mode = Mode::Supervisor;
        self
    }

    /// At most `n` children run at once; the others wait (in spawn order) for a slot. A child
    /// waiting for its slot can be cancelled like a running one.
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
    /// let group = TaskGroup::<(), ()>::builder(&rt).max_concurrency(2).build().unwrap();
    /// for i in 0..4 {
    ///     let rt = rt.clone();
    ///     let job = async move { Ok(rt.sleep(Duration::from_secs(1)).await) };
    ///     group.spawn(format!("job-{i}"), job);
    /// }
    /// let start = rt.now();
    /// group.join_all().await.unwrap();
    /// assert_eq!(rt.now() - start, Duration::from_secs(2)); // four jobs, two at a time
    /// # });
    /// ```
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// Builds the group.
    ///
    /// # Errors
    ///
    /// [`GroupConfigError::ZeroConcurrency`] for `max_concurrency(0)`, and
    /// [`GroupConfigError::ConcurrencyTooLarge`] above `u32::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::rt::VirtualRuntime;
    /// use uno_core::task::{GroupConfigError, TaskGroup};
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let builder = TaskGroup::<(), ()>::builder(&rt);
    /// assert!(builder.clone().max_concurrency(8).build().is_ok());
    /// let zero = builder.clone().max_concurrency(0).build().unwrap_err();
    /// assert_eq!(zero, GroupConfigError::ZeroConcurrency);
    /// # #[cfg(target_pointer_width = "64")] {
    /// let huge = builder.max_concurrency(u32::MAX as usize + 1).build().unwrap_err();
    /// assert!(matches!(huge, GroupConfigError::ConcurrencyTooLarge { .. }));
    /// # }
    /// ```
    pub fn build(self) -> Result<TaskGroup<T, E>, GroupConfigError> {
        let limit = match self.max_concurrency {
            None => None,
            Some(0) => return Err(GroupConfigError::ZeroConcurrency),
            // The bound was a semaphore's permit count once; keep the documented range.
            Some(n) if u32::try_from(n).is_err() => {
                return Err(GroupConfigError::ConcurrencyTooLarge { requested: n });
            }
            Some(n) => Some(n),
        };
        Ok(TaskGroup {
            shared: Arc::new(Shared::new(self.rt, self.name, self.mode, limit)),
        })
    }
}

impl<T, E> Clone for TaskGroupBuilder<T, E> {
    fn clone(&self) -> Self {
        TaskGroupBuilder {
            rt: self.rt.clone(),
            name: self.name.clone(),
            mode: self.mode,
            max_concurrency: self.max_concurrency,
            types: PhantomData,
        }
    }
}

impl<T, E> fmt::Debug for TaskGroupBuilder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupBuilder")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("max_concurrency", &self.max_concurrency)
            .finish_non_exhaustive()
    }
}
