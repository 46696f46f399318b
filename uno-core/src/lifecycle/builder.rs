//! The builders of [`AsyncManager`] and [`AsyncContextGroup`]: a name and a close timeout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::lifecycle::error::check_config;
use crate::lifecycle::{AsyncContextGroup, AsyncManager, ConfigError, DEFAULT_CLOSE_TIMEOUT};
use crate::observe::Name;
use crate::rt::Runtime;

/// Configures an [`AsyncManager`]; from [`AsyncManager::builder`].
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
/// let manager = AsyncManager::builder(&rt)
///     .name("api")
///     .close_timeout(Duration::from_secs(3))
///     .build()
///     .unwrap();
/// assert_eq!(manager.name(), "api");
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct AsyncManagerBuilder {
    rt: Runtime,
    name: Option<Arc<str>>,
    close_timeout: Duration,
}

impl AsyncManagerBuilder {
    pub(crate) fn new(rt: &Runtime) -> Self {
        AsyncManagerBuilder {
            rt: rt.clone(),
            name: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }

    /// The manager's name, for its errors, reports, metrics (`name` label) and events (`name`
    /// field). Default: `"async_manager"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncManager, ConfigError};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::builder(&rt).name("ingest").build().unwrap();
    /// assert_eq!(manager.name(), "ingest");
    /// let empty = AsyncManager::builder(&rt).name("").build();
    /// assert_eq!(empty.unwrap_err(), ConfigError::EmptyName);
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The time limit of each resource's close at shutdown. Default:
    /// [`DEFAULT_CLOSE_TIMEOUT`] (10 seconds). Must be positive and less than `Duration::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncManager, ConfigError};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let zero = AsyncManager::builder(&rt).close_timeout(Duration::ZERO).build();
    /// assert_eq!(zero.unwrap_err(), ConfigError::ZeroCloseTimeout);
    /// let forever = AsyncManager::builder(&rt).close_timeout(Duration::MAX).build();
    /// assert_eq!(forever.unwrap_err(), ConfigError::UnboundedCloseTimeout);
    /// ```
    pub fn close_timeout(mut self, close_timeout: Duration) -> Self {
        self.close_timeout = close_timeout;
        self
    }

    /// Builds the manager.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyName`], [`ConfigError::ZeroCloseTimeout`] or
    /// [`ConfigError::UnboundedCloseTimeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::AsyncManager;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let manager = AsyncManager::builder(&rt).build().unwrap();
    /// assert_eq!(manager.name(), "async_manager");
    /// ```
    pub fn build(self) -> Result<AsyncManager, ConfigError> {
        check_config(self.name.as_deref(), self.close_timeout)?;
        let name = self
            .name
            .map_or_else(|| Name::kind("async_manager"), Name::new);
        Ok(AsyncManager::from_parts(&self.rt, name, self.close_timeout))
    }
}

impl fmt::Debug for AsyncManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncManagerBuilder")
            .field("name", &self.name)
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}

/// Configures an [`AsyncContextGroup`]; from [`AsyncContextGroup::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use uno_core::lifecycle::AsyncContextGroup;
/// use uno_core::rt::VirtualRuntime;
///
/// # let vrt = VirtualRuntime::new();
/// # let rt = vrt.handle();
/// let group = AsyncContextGroup::builder(&rt)
///     .name("request")
///     .close_timeout(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// assert_eq!(group.name(), "request");
/// ```
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct AsyncContextGroupBuilder {
    rt: Runtime,
    name: Option<Arc<str>>,
    close_timeout: Duration,
}

impl AsyncContextGroupBuilder {
    pub(crate) fn new(rt: &Runtime) -> Self {
        AsyncContextGroupBuilder {
            rt: rt.clone(),
            name: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }

    /// The group's name, for its errors, metrics (`name` label) and events (`name` field).
    /// Default: `"context_group"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::{AsyncContextGroup, ConfigError};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let group = AsyncContextGroup::builder(&rt).name("import").build().unwrap();
    /// assert_eq!(group.name(), "import");
    /// let empty = AsyncContextGroup::builder(&rt).name("").build();
    /// assert_eq!(empty.unwrap_err(), ConfigError::EmptyName);
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The time limit of each close. Default: [`DEFAULT_CLOSE_TIMEOUT`] (10 seconds). Must be
    /// positive and less than `Duration::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use uno_core::lifecycle::{AsyncContextGroup, ConfigError, on_close};
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let zero = AsyncContextGroup::builder(&rt).close_timeout(Duration::ZERO).build();
    /// assert_eq!(zero.unwrap_err(), ConfigError::ZeroCloseTimeout);
    ///
    /// let stack = AsyncContextGroup::builder(&rt)
    ///     .close_timeout(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// stack.enter_named("hung", on_close(|| std::future::pending()));
    /// let err = vrt.block_on(stack.close()).unwrap_err();
    /// assert!(err.errors[0].error.is_timeout()); // given up after 2 seconds
    /// ```
    pub fn close_timeout(mut self, close_timeout: Duration) -> Self {
        self.close_timeout = close_timeout;
        self
    }

    /// Builds the (empty) group.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyName`], [`ConfigError::ZeroCloseTimeout`] or
    /// [`ConfigError::UnboundedCloseTimeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_core::lifecycle::AsyncContextGroup;
    /// use uno_core::rt::VirtualRuntime;
    ///
    /// # let vrt = VirtualRuntime::new();
    /// # let rt = vrt.handle();
    /// let group = AsyncContextGroup::builder(&rt).build().unwrap();
    /// assert_eq!(group.name(), "context_group");
    /// assert!(group.is_empty());
    /// ```
    pub fn build(self) -> Result<AsyncContextGroup, ConfigError> {
        check_config(self.name.as_deref(), self.close_timeout)?;
        let name = self
            .name
            .map_or_else(|| Name::kind("context_group"), Name::new);
        Ok(AsyncContextGroup::from_parts(
            &self.rt,
            name,
            self.close_timeout,
        ))
    }
}

impl fmt::Debug for AsyncContextGroupBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncContextGroupBuilder")
            .field("name", &self.name)
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}
