//! [`RateKey`]: what a distributed limit can be keyed by.

use std::fmt::Write;
use std::sync::Arc;

/// A key of a [`RedisRateLimiter`](super::RedisRateLimiter): each key has its own limit, kept in
/// Redis under `<prefix>:<key>` (the unit key `()` under `<prefix>` alone).
///
/// Implemented for `()`, strings and integers; implement it for a tenant or user id type by
/// writing a stable text form.
///
/// # Examples
///
/// ```
/// use uno_redis::RateKey;
///
/// struct Tenant(u32);
///
/// impl RateKey for Tenant {
///     fn write_key(&self, out: &mut String) {
///         use std::fmt::Write;
///         let _ = write!(out, "tenant-{}", self.0);
///     }
/// }
///
/// let mut key = String::new();
/// Tenant(7).write_key(&mut key);
/// assert_eq!(key, "tenant-7");
/// ```
pub trait RateKey: Send + 'static {
    /// Appends the key's text form to `out`. The unit key `()` writes nothing.
    fn write_key(&self, out: &mut String);
}

impl RateKey for () {
    fn write_key(&self, _: &mut String) {}
}

impl RateKey for String {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl RateKey for &'static str {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl RateKey for Arc<str> {
    fn write_key(&self, out: &mut String) {
        out.push_str(self);
    }
}

macro_rules! integer_keys {
    ($($t:ty),*) => {$(
        impl RateKey for $t {
            fn write_key(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

integer_keys!(u16, u32, u64, u128, i32, i64, usize);

/// The full Redis key of `key` under `prefix`.
pub(super) fn redis_key(prefix: &str, key: &impl RateKey) -> String {
    let mut out = String::with_capacity(prefix.len() + 16);
    out.push_str(prefix);
    let bare = out.len();
    out.push(':');
    key.write_key(&mut out);
    if out.len() == bare + 1 {
        out.truncate(bare); // the unit key: the prefix alone
    }
    out
}
