//! The name of a policy, cache, batcher, group or manager.

use std::fmt;
use std::sync::Arc;

/// A component's name: cheap to clone (shared), cheap to show. Its default is the kind of
/// component, so a component that was never named is still labelled.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Name(Arc<str>);

impl Name {
    /// The default name of a component of this kind, such as `"circuit_breaker"`.
    pub(crate) fn kind(kind: &'static str) -> Self {
        Name(Arc::from(kind))
    }

    /// A name the user gave.
    pub(crate) fn new(name: impl Into<Arc<str>>) -> Self {
        Name(name.into())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string, for error values that carry the name.
    pub(crate) fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
