//! `tracing` events that compile to nothing without the `tracing` feature (uno-core's pattern):
//! `event!(warn, name = %name, "...")` has the target `uno_redis`.

#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        ::tracing::$level!(target: "uno_redis", $($arg)*)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {};
}

pub(crate) use event;
