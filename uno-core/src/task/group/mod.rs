//! [`TaskGroup`]: structured concurrency (trio's nursery, Kotlin's `coroutineScope`, Java's
//! `StructuredTaskScope`) on any [`Runtime`](crate::rt::Runtime).
//!
//! - `task_group`: [`TaskGroup`], the group itself;
//! - `builder`: [`TaskGroupBuilder`], its configuration;
//! - `handle`: a child's [`ChildHandle`] and the cloneable [`GroupSpawner`];
//! - `scope`: the scoped form, [`task_group`];
//! - `state`: the slots, admission and the cell that owns each child's future (with its
//!   implementation notes);
//! - `error`: [`ChildError`], [`GroupError`], [`GroupConfigError`].

mod builder;
mod error;
mod handle;
mod scope;
mod state;
mod task_group;

pub use builder::TaskGroupBuilder;
pub use error::{ChildError, GroupConfigError, GroupError};
pub use handle::{ChildHandle, GroupSpawner};
pub use scope::task_group;
pub use task_group::TaskGroup;
