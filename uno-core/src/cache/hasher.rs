//! [`DefaultHashBuilder`]: the hasher a cache uses unless its builder is given another.

/// The [`BuildHasher`](std::hash::BuildHasher) of an [`AsyncCache`](super::AsyncCache) built
/// without [`CacheBuilder::hasher`](super::CacheBuilder::hasher): today foldhash's fast
/// `RandomState` (as hashbrown's default), which may change in a later release.
///
/// It is several times faster than std's SipHash-1-3 on the small keys caches hold, and every
/// instance is seeded at random (from a per-process random seed and a per-instance counter), so a
/// client choosing keys cannot predict their hashes and flood one bucket. It is not a
/// cryptographic hash and does not claim SipHash's HashDoS margin; give the builder
/// [`std::hash::RandomState`] where keys come from an adversary who can measure timings.
///
/// # Examples
///
/// ```
/// use std::hash::BuildHasher;
/// use uno_core::cache::DefaultHashBuilder;
///
/// let a = DefaultHashBuilder::default();
/// assert_eq!(a.hash_one("key"), a.hash_one("key")); // stable within one instance
/// let b = DefaultHashBuilder::default();
/// assert_ne!(a.hash_one(1u64), b.hash_one(1u64)); // instances are seeded apart
/// ```
pub type DefaultHashBuilder = foldhash::fast::RandomState;
