//! [`DriverConnection`]: the sqlx connection types a [`Session`](crate::Session) or a
//! [`Tx`](crate::Tx) lends to sqlx's own API (`Executor`, `query_as`, `FromRow`, the `query!`
//! macros) under the crate's guarantees.

use crate::driver::RawConn;

mod sealed {
    use crate::driver::RawConn;

    /// How the crate finds the connection inside its own checked-out connection. Private: only
    /// the crate implements it, so it may name crate-private types.
    #[allow(private_interfaces, unreachable_pub)]
    pub trait Sealed: sqlx::Connection {
        /// The type's name, for error messages.
        const NAME: &'static str;

        fn from_raw(raw: &mut RawConn) -> Option<&mut Self>;
    }
}

/// A sqlx connection type that sessions and transactions lend out:
/// `sqlx::SqliteConnection` (feature `sqlite`), `sqlx::PgConnection` (`postgres`) and
/// `sqlx::MySqlConnection` (`mysql`). Sealed: the crate must know how to keep each one clean.
///
/// Name the type in the closure's argument and the right one is picked:
/// `session.with_connection(async |c: &mut sqlx::PgConnection| { .. })`. On a database of another
/// driver the call fails with a config error, without running the closure.
pub trait DriverConnection: sealed::Sealed + Send + 'static {}

macro_rules! driver_connection {
    ($feature:literal, $variant:ident, $conn:ty, $name:literal) => {
        #[cfg(feature = $feature)]
        impl DriverConnection for $conn {}

        #[cfg(feature = $feature)]
        impl sealed::Sealed for $conn {
            const NAME: &'static str = $name;

            #[allow(private_interfaces)] // the trait is sealed: nobody outside can call it
            fn from_raw(raw: &mut RawConn) -> Option<&mut Self> {
                match raw {
                    RawConn::$variant(c) => Some(&mut **c),
                    #[allow(unreachable_patterns)] // when this is the only driver enabled
                    _ => None,
                }
            }
        }
    };
}

driver_connection!("sqlite", Sqlite, sqlx::SqliteConnection, "SqliteConnection");
driver_connection!("postgres", Postgres, sqlx::PgConnection, "PgConnection");
driver_connection!("mysql", MySql, sqlx::MySqlConnection, "MySqlConnection");
