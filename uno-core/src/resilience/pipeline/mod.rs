//! The pipeline: every policy stacked in Uno's decorator order on one operation.
//!
//! - `policy`: [`Pipeline`], the stack and the attempt loop that runs it;
//! - `builder`: [`PipelineBuilder`], which policies it holds;
//! - `limit`: the rate limit it admits attempts through (in-process, or any `RateLimit`).

mod builder;
mod limit;
mod policy;

pub use builder::PipelineBuilder;
pub(crate) use limit::PipelineLimit;
#[cfg(feature = "tower")]
pub(crate) use limit::SharedAcquire;
#[cfg(feature = "tower")]
pub(crate) use policy::judge;
pub use policy::{Pipeline, PipelineCall};
