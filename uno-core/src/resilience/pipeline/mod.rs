//! The pipeline: every policy stacked in Uno's decorator order on one operation.
//!
//! - `policy`: [`Pipeline`], the stack and the attempt loop that runs it;
//! - `builder`: [`PipelineBuilder`], which policies it holds.

mod builder;
mod policy;

pub use builder::PipelineBuilder;
pub use policy::{Pipeline, PipelineCall};
