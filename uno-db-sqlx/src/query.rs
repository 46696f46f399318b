//! Portable statements ([`Query`]) and results ([`Row`], [`Value`]) that run unchanged on SQLite,
//! PostgreSQL and MySQL.
//!
//! Placeholders are `$1`, `$2`, … on every database (SQLite accepts them too; for MySQL they are
//! rewritten to `?`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use sqlx::{Column, Row as _, TypeInfo, ValueRef};

use crate::error::{DbError, Kind};
#[cfg(feature = "mysql")]
use crate::sql::question_marks;
use crate::sql::{Dialect, Placeholder, arguments_needed, placeholders};

/// A value bound to a [`Query`] or read from a [`Row`].
///
/// On PostgreSQL, integers are sent as `BIGINT`, floats as `DOUBLE PRECISION`, and
/// [`Value::Null`] as a `TEXT` null: write `$1::bigint` in the SQL where a typed null is needed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (any integer column type).
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes (`BLOB` / `BYTEA`).
    Bytes(Vec<u8>),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The number as a float (integers too), if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }

    /// The boolean (SQLite stores booleans as 0/1 integers), if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            Value::Int(v) => Some(*v != 0),
            _ => None,
        }
    }

    /// The bytes, if this is a blob.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v $(as $cast)?)
            }
        }
    )*};
}

value_from! {
    bool => Bool,
    i64 => Int,
    i32 => Int as i64,
    i16 => Int as i64,
    u32 => Int as i64,
    f64 => Float,
    f32 => Float as f64,
    String => Text,
    Vec<u8> => Bytes,
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A statement with its bound arguments; build it with [`query`].
///
/// A `Query` is reusable (sessions take it by reference), so an operation that is re-run on retry
/// can keep its statements.
#[derive(Clone, PartialEq)]
#[must_use = "a query does nothing until it is run on a session or a transaction"]
pub struct Query {
    sql: Cow<'static, str>,
    args: Vec<Value>,
}

/// A statement to run on a session or in a transaction. Bind arguments with [`Query::bind`];
/// placeholders are `$1`, `$2`, … on both SQLite and PostgreSQL.
///
/// The SQL is sent as it is: put values in bound arguments, never format them into the text.
///
/// # Examples
///
/// ```
/// use uno_db_sqlx::query;
///
/// let q = query("UPDATE accounts SET balance = balance - $1 WHERE id = $2").bind(10).bind(1);
/// assert_eq!(q.arguments().len(), 2);
/// assert!(q.sql().starts_with("UPDATE"));
/// ```
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl Query {
    /// Binds the next argument (`$1` first).
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The bound arguments, in order.
    pub fn arguments(&self) -> &[Value] {
        &self.args
    }

    /// A short form of the SQL for error messages.
    pub(crate) fn describe(&self) -> String {
        format!("statement `{}`", crate::observe::short_sql(&self.sql))
    }

    /// Checks that the bound arguments match the placeholders (SQLite would bind missing ones as
    /// `NULL` and ignore extras; PostgreSQL takes one extra): the same rule on every database.
    pub(crate) fn check_arguments(&self, dialect: Dialect) -> Result<Vec<Placeholder>, DbError> {
        let found = placeholders(&self.sql, dialect);
        let needed = arguments_needed(&found);
        if needed != self.args.len() {
            let needs = if needed == usize::MAX {
                "a placeholder number too large".to_owned()
            } else {
                format!("{needed} argument(s)")
            };
            return Err(DbError::new(
                Kind::InvalidQuery,
                format!(
                    "{} needs {needs} but {} argument(s) were bound",
                    self.describe(),
                    self.args.len()
                ),
            ));
        }
        Ok(found)
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn to_sqlite(
        &self,
    ) -> Result<sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>, DbError>
    {
        self.check_arguments(Dialect::Standard)?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()));
        for arg in &self.args {
            q = match arg.clone() {
                Value::Null => q.bind(None::<i64>),
                Value::Bool(v) => q.bind(v),
                Value::Int(v) => q.bind(v),
                Value::Float(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
                Value::Bytes(v) => q.bind(v),
            };
        }
        Ok(q)
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn to_postgres(
        &self,
    ) -> Result<sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>, DbError>
    {
        self.check_arguments(Dialect::Standard)?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()));
        for arg in &self.args {
            q = match arg.clone() {
                Value::Null => q.bind(None::<String>),
                Value::Bool(v) => q.bind(v),
                Value::Int(v) => q.bind(v),
                Value::Float(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
                Value::Bytes(v) => q.bind(v),
            };
        }
        Ok(q)
    }

    /// MySQL takes `?` placeholders, each bound in text order: `$N` are rewritten, and the
    /// arguments bound in the order their placeholders appear (a `$1` used twice is bound twice).
    #[cfg(feature = "mysql")]
    pub(crate) fn to_mysql(
        &self,
    ) -> Result<sqlx::query::Query<'static, sqlx::MySql, sqlx::mysql::MySqlArguments>, DbError>
    {
        let found = self.check_arguments(Dialect::MySql)?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(question_marks(&self.sql, &found)));
        for p in &found {
            q = match self.args[p.number - 1].clone() {
                Value::Null => q.bind(None::<String>),
                Value::Bool(v) => q.bind(v),
                Value::Int(v) => q.bind(v),
                Value::Float(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
                Value::Bytes(v) => q.bind(v),
            };
        }
        Ok(q)
    }
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("sql", &self.sql)
            .field("args", &self.args)
            .finish()
    }
}

/// One result row: column names and [`Value`]s.
///
/// # Examples
///
/// ```
/// # uno_smol::run(|rt| async move {
/// # let dir = tempfile::tempdir().unwrap();
/// use uno_db_sqlx::{Database, DatabaseOptions, enhanced_async_session, query};
///
/// let db = Database::open_sqlite(&rt, dir.path().join("rows.db"), DatabaseOptions::new()).await?;
/// let session = enhanced_async_session(&db).await?;
/// let row = session.fetch_one(&query("SELECT 7 AS n, 'seven' AS name")).await?;
/// assert_eq!(row.get("n").and_then(|v| v.as_i64()), Some(7));
/// assert_eq!(row.try_i64(0)?, 7);
/// assert_eq!(row.get("name").and_then(|v| v.as_str()), Some("seven"));
/// drop(session); // Database::close waits for every session to let go of its connection
/// db.close().await;
/// # Ok::<(), uno_db_sqlx::DbError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of the column named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.columns.iter().position(|c| c == name)?;
        self.values.get(i)
    }

    /// The value at `index` as an integer.
    ///
    /// # Errors
    ///
    /// A decode error ([`DbError::is_decode`]) if there is no such column or it is not an integer.
    pub fn try_i64(&self, index: usize) -> Result<i64, DbError> {
        match self.values.get(index) {
            Some(Value::Int(v)) => Ok(*v),
            other => Err(DbError::new(
                Kind::Decode,
                format!("column {index} is {other:?}, not an integer"),
            )),
        }
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn from_sqlite(
        row: &sqlx::sqlite::SqliteRow,
        columns: &Arc<[String]>,
    ) -> Result<Row, DbError> {
        let mut values = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let raw = row
                .try_get_raw(i)
                .map_err(|e| DbError::from_sqlx("reading a row", e))?;
            let value = if raw.is_null() {
                Value::Null
            } else {
                let name = raw.type_info().name().to_ascii_uppercase();
                let get = |e| DbError::from_sqlx("reading a row", e);
                match name.as_str() {
                    "INTEGER" | "INT" | "BIGINT" | "INT8" | "BOOLEAN" | "BOOL" => {
                        Value::Int(row.try_get_unchecked::<i64, _>(i).map_err(get)?)
                    }
                    "REAL" | "FLOAT" | "DOUBLE" | "NUMERIC" => {
                        Value::Float(row.try_get_unchecked::<f64, _>(i).map_err(get)?)
                    }
                    "BLOB" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(get)?),
                    _ => Value::Text(row.try_get_unchecked::<String, _>(i).map_err(get)?),
                }
            };
            values.push(value);
        }
        Ok(Row {
            columns: columns.clone(),
            values,
        })
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn from_postgres(
        row: &sqlx::postgres::PgRow,
        columns: &Arc<[String]>,
    ) -> Result<Row, DbError> {
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in row.columns().iter().enumerate() {
            let raw = row
                .try_get_raw(i)
                .map_err(|e| DbError::from_sqlx("reading a row", e))?;
            let type_name = column.type_info().name();
            if raw.is_null() || type_name == "VOID" {
                values.push(Value::Null);
                continue;
            }
            let get = |e| DbError::from_sqlx("reading a row", e);
            let value = match type_name {
                "INT8" => Value::Int(row.try_get::<i64, _>(i).map_err(get)?),
                "INT4" => Value::Int(row.try_get::<i32, _>(i).map_err(get)?.into()),
                "INT2" => Value::Int(row.try_get::<i16, _>(i).map_err(get)?.into()),
                "FLOAT8" => Value::Float(row.try_get::<f64, _>(i).map_err(get)?),
                "FLOAT4" => Value::Float(row.try_get::<f32, _>(i).map_err(get)?.into()),
                "BOOL" => Value::Bool(row.try_get::<bool, _>(i).map_err(get)?),
                "BYTEA" => Value::Bytes(row.try_get::<Vec<u8>, _>(i).map_err(get)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "UNKNOWN" => {
                    Value::Text(row.try_get::<String, _>(i).map_err(get)?)
                }
                other => {
                    return Err(DbError::new(
                        Kind::Decode,
                        format!(
                            "column `{}` has type {other}, which is not decoded",
                            column.name()
                        ),
                    ));
                }
            };
            values.push(value);
        }
        Ok(Row {
            columns: columns.clone(),
            values,
        })
    }

    #[cfg(feature = "mysql")]
    pub(crate) fn from_mysql(
        row: &sqlx::mysql::MySqlRow,
        columns: &Arc<[String]>,
    ) -> Result<Row, DbError> {
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in row.columns().iter().enumerate() {
            let raw = row
                .try_get_raw(i)
                .map_err(|e| DbError::from_sqlx("reading a row", e))?;
            if raw.is_null() {
                values.push(Value::Null);
                continue;
            }
            let type_name = column.type_info().name();
            let get = |e| DbError::from_sqlx("reading a row", e);
            let value = match type_name {
                "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR"
                | "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED"
                | "INT UNSIGNED" => Value::Int(row.try_get_unchecked::<i64, _>(i).map_err(get)?),
                "BIGINT UNSIGNED" => {
                    let v = row.try_get::<u64, _>(i).map_err(get)?;
                    Value::Int(i64::try_from(v).map_err(|_| {
                        DbError::new(
                            Kind::Decode,
                            format!("column `{}` holds {v}, beyond an i64", column.name()),
                        )
                    })?)
                }
                "FLOAT" => Value::Float(row.try_get::<f32, _>(i).map_err(get)?.into()),
                "DOUBLE" => Value::Float(row.try_get::<f64, _>(i).map_err(get)?),
                // MySQL's SUM and AVG return DECIMAL: whole numbers come back as integers.
                "DECIMAL" => {
                    let text = row.try_get_unchecked::<String, _>(i).map_err(get)?;
                    match (text.parse::<i64>(), text.parse::<f64>()) {
                        (Ok(v), _) => Value::Int(v),
                        (_, Ok(v)) => Value::Float(v),
                        _ => Value::Text(text),
                    }
                }
                "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" | "JSON" => {
                    Value::Text(row.try_get_unchecked::<String, _>(i).map_err(get)?)
                }
                "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                    Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(get)?)
                }
                other => {
                    return Err(DbError::new(
                        Kind::Decode,
                        format!(
                            "column `{}` has type {other}, which is not decoded",
                            column.name()
                        ),
                    ));
                }
            };
            values.push(value);
        }
        Ok(Row {
            columns: columns.clone(),
            values,
        })
    }
}

/// The column names of a result, shared by its rows.
pub(crate) fn column_names<R: sqlx::Row>(row: &R) -> Arc<[String]> {
    row.columns().iter().map(|c| c.name().to_owned()).collect()
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (c, v) in self.columns.iter().zip(&self.values) {
            m.entry(c, v);
        }
        m.finish()
    }
}
