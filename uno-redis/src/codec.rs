//! [`Codec`]: how the two-level cache turns values into the bytes it keeps in Redis, and back;
//! [`JsonCodec`] (feature `json`, on by default) and `PostcardCodec` (feature `postcard`).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Turns values of type `V` into bytes for Redis and back, for
/// [`TwoLevelCache`](crate::cache::TwoLevelCache).
///
/// Implement it for your own format (protobuf, a hand-rolled layout) or pick one of the provided
/// codecs: [`JsonCodec`] (readable with `redis-cli`, the default) or `PostcardCodec` (feature
/// `postcard`, compact binary). Every instance that shares a cache name must use the same codec and the same `V`
/// layout: an L2 value another instance cannot decode is a [`CodecError`], not a panic.
///
/// A codec that panics is contained by the cache: its readers get an error and no lease is left
/// behind. Still, return a [`CodecError`] for bad input rather than panicking.
///
/// # Examples
///
/// A codec for one type, without serde:
///
/// ```
/// use uno_redis::{Codec, CodecError};
///
/// #[derive(Debug)]
/// struct Le64;
///
/// impl Codec<u64> for Le64 {
///     fn encode(&self, value: &u64) -> Result<Vec<u8>, CodecError> {
///         Ok(value.to_le_bytes().to_vec())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<u64, CodecError> {
///         let bytes: [u8; 8] = bytes
///             .try_into()
///             .map_err(|_| CodecError::decode(format!("{} bytes, not 8", bytes.len())))?;
///         Ok(u64::from_le_bytes(bytes))
///     }
/// }
///
/// let bytes = Le64.encode(&7).unwrap();
/// assert_eq!(Le64.decode(&bytes).unwrap(), 7);
/// assert!(Le64.decode(b"short").unwrap_err().is_decode());
/// ```
pub trait Codec<V>: Send + Sync + 'static {
    /// The bytes stored in Redis for `value`.
    ///
    /// # Errors
    ///
    /// A [`CodecError`] (made with [`CodecError::encode`]) when `value` cannot be represented.
    fn encode(&self, value: &V) -> Result<Vec<u8>, CodecError>;

    /// The value `bytes` (written by [`encode`](Self::encode), possibly by another process)
    /// stand for.
    ///
    /// # Errors
    ///
    /// A [`CodecError`] (made with [`CodecError::decode`]) when `bytes` are not a valid `V`.
    fn decode(&self, bytes: &[u8]) -> Result<V, CodecError>;
}

/// Why a [`Codec`] could not encode or decode a value. The codec's own error, if it has one, is
/// the [`source`](Error::source).
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// use uno_redis::CodecError;
///
/// let err = CodecError::decode(std::io::Error::other("unexpected end of input"));
/// assert!(err.is_decode());
/// assert_eq!(err.to_string(), "could not decode a cached value");
/// assert_eq!(err.source().unwrap().to_string(), "unexpected end of input");
/// ```
#[derive(Debug, Clone)]
pub struct CodecError {
    direction: Direction,
    source: Arc<dyn Error + Send + Sync>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Encode,
    Decode,
}

impl CodecError {
    /// A value that could not be encoded, because of `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::CodecError;
    ///
    /// let err = CodecError::encode("a map key is not a string");
    /// assert!(!err.is_decode());
    /// assert_eq!(err.to_string(), "could not encode a value for the cache");
    /// ```
    pub fn encode(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        CodecError {
            direction: Direction::Encode,
            source: Arc::from(source.into()),
        }
    }

    /// Bytes that could not be decoded, because of `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::CodecError;
    ///
    /// assert!(CodecError::decode("truncated").is_decode());
    /// ```
    pub fn decode(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        CodecError {
            direction: Direction::Decode,
            source: Arc::from(source.into()),
        }
    }

    /// Whether decoding (rather than encoding) failed: the bytes in Redis were not a valid value
    /// (another codec, an older layout of `V`, or data that is not the cache's).
    ///
    /// # Examples
    ///
    /// ```
    /// use uno_redis::{Codec, JsonCodec};
    ///
    /// let err = Codec::<u32>::decode(&JsonCodec, b"\"not a number\"").unwrap_err();
    /// assert!(err.is_decode());
    /// ```
    pub fn is_decode(&self) -> bool {
        self.direction == Direction::Decode
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.direction {
            Direction::Encode => f.write_str("could not encode a value for the cache"),
            Direction::Decode => f.write_str("could not decode a cached value"),
        }
    }
}

impl Error for CodecError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// JSON through `serde_json`: any `V: Serialize + DeserializeOwned`; readable with `redis-cli`.
/// Feature `json` (on by default).
///
/// # Examples
///
/// ```
/// use uno_redis::{Codec, JsonCodec};
///
/// let bytes = JsonCodec.encode(&vec![1u8, 2, 3]).unwrap();
/// assert_eq!(bytes, b"[1,2,3]");
/// let back: Vec<u8> = JsonCodec.decode(&bytes).unwrap();
/// assert_eq!(back, [1, 2, 3]);
/// ```
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonCodec;

#[cfg(feature = "json")]
impl<V> Codec<V> for JsonCodec
where
    V: serde::Serialize + serde::de::DeserializeOwned,
{
    fn encode(&self, value: &V) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(CodecError::encode)
    }

    fn decode(&self, bytes: &[u8]) -> Result<V, CodecError> {
        serde_json::from_slice(bytes).map_err(CodecError::decode)
    }
}

/// A compact binary format through `postcard`: any `V: Serialize + DeserializeOwned`, smaller and
/// faster than JSON, not self-describing (every instance must agree on `V`'s layout). Feature
/// `postcard`.
///
/// # Examples
///
/// ```
/// use uno_redis::{Codec, PostcardCodec};
///
/// let bytes = PostcardCodec.encode(&(7u32, "ada".to_owned())).unwrap();
/// assert_eq!(bytes.len(), 5); // a varint, a length, three bytes
/// let back: (u32, String) = PostcardCodec.decode(&bytes).unwrap();
/// assert_eq!(back, (7, "ada".to_owned()));
/// assert!(Codec::<(u32, String)>::decode(&PostcardCodec, &bytes[..2]).is_err());
/// ```
#[cfg(feature = "postcard")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostcardCodec;

#[cfg(feature = "postcard")]
impl<V> Codec<V> for PostcardCodec
where
    V: serde::Serialize + serde::de::DeserializeOwned,
{
    fn encode(&self, value: &V) -> Result<Vec<u8>, CodecError> {
        postcard::to_allocvec(value).map_err(CodecError::encode)
    }

    fn decode(&self, bytes: &[u8]) -> Result<V, CodecError> {
        postcard::from_bytes(bytes).map_err(CodecError::decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "json")]
    #[test]
    fn json_round_trips_and_refuses_garbage() {
        let value = vec![("a".to_owned(), 1u32), ("b".to_owned(), 2)];
        let bytes = JsonCodec.encode(&value).unwrap();
        assert_eq!(
            Codec::<Vec<(String, u32)>>::decode(&JsonCodec, &bytes).unwrap(),
            value
        );
        let err = Codec::<Vec<(String, u32)>>::decode(&JsonCodec, b"{").unwrap_err();
        assert!(err.is_decode() && err.source().is_some());
        // A map with non-string keys has no JSON form: an encode error, not a panic.
        let map = std::collections::BTreeMap::from([((1u8, 2u8), 3u8)]);
        assert!(!JsonCodec.encode(&map).unwrap_err().is_decode());
    }

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_round_trips_and_refuses_truncation() {
        let value = (u64::MAX, "x".repeat(300), vec![1i16, -1]);
        let bytes = PostcardCodec.encode(&value).unwrap();
        assert_eq!(PostcardCodec.decode(&bytes).ok(), Some(value.clone()));
        for cut in 0..bytes.len() {
            let decoded: Result<(u64, String, Vec<i16>), _> = PostcardCodec.decode(&bytes[..cut]);
            assert!(decoded.unwrap_err().is_decode());
        }
    }

    #[test]
    fn errors_are_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + Error + 'static>() {}
        check::<CodecError>();
    }
}
