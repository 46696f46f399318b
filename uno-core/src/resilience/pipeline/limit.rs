//! [`PipelineLimit`]: the rate limit a pipeline admits its attempts through, in this process
//! (a [`RateLimiter`], allocation-free) or any other [`RateLimit`] (boxed: a shared limiter's
//! admission is a network round trip).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::resilience::{LimitError, RateLimit, RateLimiter};

/// The boxed admission of a [`RateLimit`] other than the in-process [`RateLimiter`].
pub(crate) type SharedAcquire = Pin<Box<dyn Future<Output = Result<(), LimitError>> + Send>>;

/// A [`RateLimit`] with its `acquire` future erased.
pub(crate) trait Erased: Send + Sync {
    fn name(&self) -> &str;
    fn acquire(&self) -> SharedAcquire;
}

impl<L: RateLimit> Erased for L {
    fn name(&self) -> &str {
        RateLimit::name(self)
    }

    fn acquire(&self) -> SharedAcquire {
        Box::pin(RateLimit::acquire(self, ()))
    }
}

/// A pipeline's rate limit: the in-process limiter, polled without allocating, or any other.
#[derive(Clone)]
pub(crate) enum PipelineLimit {
    Local(RateLimiter),
    Shared(Arc<dyn Erased>),
}

impl PipelineLimit {
    /// `limiter` as a pipeline's limit: an in-process [`RateLimiter`] passed as a generic
    /// `RateLimit` still takes the allocation-free path.
    pub(crate) fn shared<L: RateLimit>(limiter: L) -> Self {
        match (&limiter as &dyn Any).downcast_ref::<RateLimiter>() {
            Some(local) => PipelineLimit::Local(local.clone()),
            None => PipelineLimit::Shared(Arc::new(limiter)),
        }
    }

    pub(crate) fn local(&self) -> Option<&RateLimiter> {
        match self {
            PipelineLimit::Local(limiter) => Some(limiter),
            PipelineLimit::Shared(_) => None,
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            PipelineLimit::Local(limiter) => limiter.name(),
            PipelineLimit::Shared(limiter) => limiter.name(),
        }
    }
}

impl fmt::Debug for PipelineLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineLimit::Local(limiter) => limiter.fmt(f),
            PipelineLimit::Shared(limiter) => f
                .debug_struct("RateLimit")
                .field("name", &limiter.name())
                .finish_non_exhaustive(),
        }
    }
}
