//! The runtime seam: how the core asks an executor to run a future and to keep time.
//!
//! An adapter (`uno-tokio`, `uno-smol`, `uno-async-std`, or an outsider's) implements [`Spawner`] and
//! [`Timer`](crate::time::Timer); [`Runtime`] bundles the two into a cheap-to-clone handle that
//! every time- or spawn-dependent API in uno takes explicitly. There is no global runtime.
//!
//! - `spawner`: the [`Spawner`] and [`LocalSpawner`] traits, and the boxed futures they take;
//! - `runtime`: [`Runtime`], the handle that bundles a spawner and a timer;
//! - `virtual_runtime`: [`VirtualRuntime`], deterministic tests on virtual time, and its
//!   [`VirtualLocalSpawner`];
//! - `executor`: the single-threaded executor under it (with its implementation notes).

mod executor;
mod runtime;
mod spawner;
mod virtual_runtime;

pub use runtime::Runtime;
pub use spawner::{BoxFuture, LocalBoxFuture, LocalSpawner, LocalSpawnerExt, Spawner};
pub use virtual_runtime::{VirtualLocalSpawner, VirtualRuntime};
