use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::lifecycle::ResourceError;
use crate::task::TaskShutdownReport;

/// What [`AsyncManager::shutdown`](super::AsyncManager::shutdown) did: which tasks stopped or had
/// to be cancelled, which resources closed, and which failed or timed out, with their errors.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The background tasks: those that stopped in time and those cancelled at the deadline.
    pub tasks: TaskShutdownReport,
    /// Resources closed cleanly, in closing order (the reverse of registration).
    pub closed: Vec<String>,
    /// Resources whose close failed, panicked or timed out, in closing order.
    pub failed: Vec<ResourceError>,
    /// How long the shutdown took, on the runtime's clock.
    pub elapsed: Duration,
    /// The manager's name.
    pub(crate) name: Arc<str>,
}

impl ShutdownReport {
    /// Whether every task stopped in time without panicking and every resource closed cleanly.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncManager, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// # vrt.block_on(async move {
    /// let manager = AsyncManager::new(&rt);
    /// manager.register_resource("db", on_close(|| async { Err("still in use".into()) })).unwrap();
    /// let report = manager.shutdown(Duration::from_secs(1)).await;
    /// assert!(!report.is_clean());
    /// assert_eq!(report.failed[0].name, "db");
    /// # });
    /// ```
    pub fn is_clean(&self) -> bool {
        self.tasks.is_clean() && self.failed.is_empty()
    }

    /// The [name](super::AsyncManager::name) of the manager that shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::builder(&rt).name("api").build().unwrap();
    /// let report = vrt.block_on(manager.shutdown(Duration::from_secs(1)));
    /// assert_eq!(report.name(), "api");
    /// assert!(report.to_string().starts_with(r#"async manager "api" shut down cleanly"#));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "async manager {:?} shut down {} in {:?}",
            self.name,
            if self.is_clean() {
                "cleanly"
            } else {
                "with problems"
            },
            self.elapsed
        )?;
        writeln!(f, "  tasks stopped: {:?}", self.tasks.stopped)?;
        writeln!(
            f,
            "  tasks cancelled at the deadline: {:?}",
            self.tasks.timed_out
        )?;
        if !self.tasks.abandoned.is_empty() {
            writeln!(
                f,
                "  tasks still not dropped at the deadline (left running): {:?}",
                self.tasks.abandoned
            )?;
        }
        for panic in &self.tasks.panicked {
            writeln!(f, "  task `{}` panicked: {}", panic.name, panic.message)?;
        }
        writeln!(f, "  resources closed: {:?}", self.closed)?;
        for failure in &self.failed {
            writeln!(f, "  {failure}: {}", super::error::Chain(&failure.error))?;
        }
        Ok(())
    }
}
