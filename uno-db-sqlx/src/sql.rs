//! A small scanner for SQL text: where the `$1`-style placeholders are, outside string literals,
//! quoted names, comments and PostgreSQL's dollar-quoted bodies. The portable [`Query`] uses it to
//! check its bind count on every database and to rewrite placeholders for MySQL (`?`).
//!
//! [`Query`]: crate::Query

use std::ops::Range;

/// One `$N` placeholder: its byte range in the SQL and its (1-based) number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    pub(crate) span: Range<usize>,
    pub(crate) number: usize,
}

/// How the dialect reads the text around placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite and PostgreSQL: `''` inside literals, `--` and `/* */` comments, `$tag$` bodies.
    Standard,
    /// MySQL / MariaDB: also backslash escapes in literals, backquoted names and `#` comments.
    MySql,
}

/// The placeholders of `sql`, in text order.
pub(crate) fn placeholders(sql: &str, dialect: Dialect) -> Vec<Placeholder> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => i = skip_quoted(b, i, q, dialect == Dialect::MySql),
            b'`' if dialect == Dialect::MySql => i = skip_quoted(b, i, b'`', false),
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_line(b, i),
            b'#' if dialect == Dialect::MySql => i = skip_line(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = find(b, i + 2, b"*/").map_or(b.len(), |end| end + 2);
            }
            b'$' => {
                let after_ident = i > 0 && is_ident(b[i - 1]);
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 && !after_ident {
                    let end = i + 1 + digits;
                    // A number too large to be an index counts as one no bind list can match.
                    let number = sql[i + 1..end].parse().unwrap_or(usize::MAX);
                    out.push(Placeholder {
                        span: i..end,
                        number,
                    });
                    i = end;
                } else if let Some(tag_end) = dollar_tag(b, i).filter(|_| !after_ident) {
                    let tag = &b[i..tag_end];
                    i = find(b, tag_end, tag).map_or(b.len(), |end| end + tag.len());
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// How many arguments the statement needs: its highest placeholder number (0 if none).
pub(crate) fn arguments_needed(placeholders: &[Placeholder]) -> usize {
    placeholders.iter().map(|p| p.number).max().unwrap_or(0)
}

/// `sql` with each placeholder replaced by `?`, as MySQL takes them.
#[allow(dead_code)] // the MySQL driver uses it
pub(crate) fn question_marks(sql: &str, placeholders: &[Placeholder]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for p in placeholders {
        out.push_str(&sql[last..p.span.start]);
        out.push('?');
        last = p.span.end;
    }
    out.push_str(&sql[last..]);
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// The end of a `$tag$` opening a dollar-quoted body at `i`, if there is one.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() && b[j] != b'$' {
        let ok = if j == i + 1 {
            b[j].is_ascii_alphabetic() || b[j] == b'_' || b[j] >= 0x80
        } else {
            b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80
        };
        if !ok {
            return None;
        }
        j += 1;
    }
    (j < b.len()).then_some(j + 1)
}

fn skip_quoted(b: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

fn skip_line(b: &[u8], start: usize) -> usize {
    find(b, start, b"\n").map_or(b.len(), |end| end + 1)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(sql: &str, dialect: Dialect) -> Vec<usize> {
        placeholders(sql, dialect)
            .into_iter()
            .map(|p| p.number)
            .collect()
    }

    #[test]
    fn finds_placeholders_in_order() {
        let sql = "UPDATE t SET v = $2 WHERE id = $1 AND w = $2";
        assert_eq!(numbers(sql, Dialect::Standard), [2, 1, 2]);
        assert_eq!(arguments_needed(&placeholders(sql, Dialect::Standard)), 2);
        assert_eq!(arguments_needed(&[]), 0);
    }

    #[test]
    fn skips_literals_names_comments_and_dollar_bodies() {
        let sql = "SELECT '$1', 'it''s $2', \"$3\", $1 -- $4\n /* $5 */ $$ $6 $$ $f$ $7 $f$, a$8";
        assert_eq!(numbers(sql, Dialect::Standard), [1]);
        let my = "SELECT 'it\\'s $1', `$2`, $1 # $3\n";
        assert_eq!(numbers(my, Dialect::MySql), [1]);
        // Unterminated constructs end the scan instead of reading past the text.
        assert_eq!(
            numbers("SELECT '$1", Dialect::Standard),
            Vec::<usize>::new()
        );
        assert_eq!(numbers("SELECT $1 /* $2", Dialect::Standard), [1]);
        assert_eq!(numbers("SELECT $", Dialect::Standard), Vec::<usize>::new());
    }

    #[test]
    fn a_huge_number_needs_more_arguments_than_anyone_binds() {
        let sql = "SELECT $99999999999999999999999";
        assert_eq!(
            arguments_needed(&placeholders(sql, Dialect::Standard)),
            usize::MAX
        );
    }

    #[test]
    fn rewrites_to_question_marks() {
        let sql = "INSERT INTO t VALUES ($1, '$2', $2)";
        let ps = placeholders(sql, Dialect::MySql);
        assert_eq!(
            question_marks(sql, &ps),
            "INSERT INTO t VALUES (?, '$2', ?)"
        );
        assert_eq!(question_marks("SELECT 1", &[]), "SELECT 1");
    }
}
