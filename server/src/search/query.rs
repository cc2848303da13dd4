//! What a search asks for: words and quoted phrases, and the filters
//! `from:`, `in:`, `before:` and `after:`.
//!
//! - `from:ming` or `from:@ming`: sent by that user (by handle);
//! - `in:#dev`, `in:dev` (a room) or `in:@ming` (your direct conversation);
//! - `before:2026-12-01` and `after:2026-11-30`: by the searcher's calendar
//!   day (the client says its time zone), `after:` from the end of that
//!   day and `before:` up to its start;
//! - `"exact phrase"`; every word and phrase must match (AND);
//! - `word*` matches words that start with `word`.
//!
//! A CJK run is a phrase of its bigrams (see [`terms`](super::terms)); its
//! last character stands alone only where something follows it in the
//! term, as in the index; a run of one character at the end of a term
//! matches any bigram it starts.

use app::protocol::Conv;

use super::terms::{tokens, Kind};

/// Most terms (words and phrases) one search may have.
pub const MAX_TERMS: usize = 12;
/// Most characters a query may have.
pub const MAX_QUERY_CHARS: usize = 256;

/// One word or phrase: tokens that must follow each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub tokens: Vec<String>,
    /// The last token matches any token it starts.
    pub prefix: bool,
}

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
    /// `from:` handles.
    pub from: Option<String>,
    pub within: Option<Conv>,
    /// Messages sent at or after this time (ms).
    pub since: Option<i64>,
    /// Messages sent before this time (ms).
    pub until: Option<i64>,
}

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("type something to search for")]
    Empty,
    #[error("a search is at most {MAX_QUERY_CHARS} characters")]
    TooLong,
    #[error("a search has at most {MAX_TERMS} words or phrases")]
    TooManyTerms,
    #[error("`{0}` is not a date: write it as YYYY-MM-DD")]
    BadDate(String),
    #[error("`{0}` names no room or person: write in:#room or in:@user")]
    BadWhere(String),
}

/// The term `text` (a word, or the inside of quotes) stands for; `None`
/// when it holds nothing searchable (punctuation only).
pub fn term(text: &str) -> Option<Term> {
    let (text, star) = match text.strip_suffix('*') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let mut found = tokens(text);
    let n = found.len();
    if n == 0 {
        return None;
    }
    let mut prefix = star;
    if found[n - 1].kind == Kind::Last {
        let run_of_one =
            n < 2 || !(found[n - 2].kind == Kind::Bigram && found[n - 2].end == found[n - 1].end);
        if run_of_one {
            prefix = true;
        } else {
            found.pop();
        }
    }
    Some(Term {
        tokens: found.into_iter().map(|t| t.text).collect(),
        prefix,
    })
}

/// Midnight starting `date` (YYYY-MM-DD) in a zone `tz_minutes` east of
/// UTC, in ms since the epoch.
fn day_start(date: &str, tz_minutes: i32) -> Result<i64, QueryError> {
    let bad = || QueryError::BadDate(date.to_owned());
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(date, &format).map_err(|_| bad())?;
    let utc = day.midnight().assume_utc().unix_timestamp() * 1000;
    Ok(utc - i64::from(tz_minutes.clamp(-24 * 60, 24 * 60)) * 60_000)
}

/// Split on spaces, keeping quoted phrases (a missing closing quote ends
/// the phrase at the end).
fn pieces(text: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        if let Some(inner) = rest.strip_prefix('"') {
            let end = inner.find('"').unwrap_or(inner.len());
            out.push((true, &inner[..end]));
            rest = inner.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push((false, &rest[..end]));
            rest = &rest[end..];
        }
    }
}

/// Parse a search typed by someone whose clock is `tz_minutes` east of UTC.
pub fn parse(text: &str, tz_minutes: i32) -> Result<Query, QueryError> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let mut query = Query::default();
    for (quoted, piece) in pieces(text) {
        let filter = (!quoted).then(|| piece.split_once(':')).flatten();
        match filter {
            Some(("from", who)) if !who.is_empty() => {
                query.from = Some(who.trim_start_matches('@').to_ascii_lowercase());
            }
            Some(("in", place)) if !place.is_empty() => {
                query.within = Some(if let Some(user) = place.strip_prefix('@') {
                    Conv::Dm(user.to_owned())
                } else {
                    Conv::Room(place.trim_start_matches('#').to_owned())
                });
                if query.within.as_ref().is_some_and(|c| c.name().is_empty()) {
                    return Err(QueryError::BadWhere(piece.to_owned()));
                }
            }
            Some(("before", date)) => query.until = Some(day_start(date, tz_minutes)?),
            Some(("after", date)) => {
                query.since = Some(day_start(date, tz_minutes)? + 24 * 3_600_000);
            }
            _ => {
                if let Some(term) = term(piece) {
                    query.terms.push(term);
                }
            }
        }
    }
    if query.terms.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms);
    }
    if query.terms.is_empty() && query.from.is_none() && query.within.is_none() {
        return Err(QueryError::Empty);
    }
    Ok(query)
}

impl Query {
    /// The terms as an FTS5 query: each a quoted phrase (tokens never hold
    /// a quote), `*` on a prefix, all of them required.
    pub fn fts5(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                format!(
                    "\"{}\"{}",
                    t.tokens.join(" "),
                    if t.prefix { "*" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The terms as a PostgreSQL `tsquery` literal: each a phrase of
    /// `<->`-joined lexemes, `:*` on a prefix, joined by `&`.
    pub fn tsquery(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                let last = t.tokens.len().saturating_sub(1);
                let phrase = t
                    .tokens
                    .iter()
                    .enumerate()
                    .map(|(i, token)| {
                        let star = if i == last && t.prefix { ":*" } else { "" };
                        format!("'{token}'{star}")
                    })
                    .collect::<Vec<_>>()
                    .join(" <-> ");
                format!("({phrase})")
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tokens: &[&str], prefix: bool) -> Term {
        Term {
            tokens: tokens.iter().map(|s| s.to_string()).collect(),
            prefix,
        }
    }

    #[test]
    fn cjk_terms_line_up_with_the_index() {
        assert_eq!(term("消息"), Some(t(&["消息"], false)));
        assert_eq!(term("离线消息"), Some(t(&["离线", "线消", "消息"], false)));
        assert_eq!(term("消"), Some(t(&["消"], true)));
        assert_eq!(
            term("WebSocket长连接"),
            Some(t(&["websocket", "长连", "连接"], false))
        );
        // A run followed by more keeps its last character, as the index does.
        assert_eq!(term("连接ok"), Some(t(&["连接", "接", "ok"], false)));
        assert_eq!(term("web*"), Some(t(&["web"], true)));
        assert_eq!(term("?!"), None);
    }

    #[test]
    fn filters_and_phrases() {
        let q = parse(
            r#"from:@Ming in:#dev "long polling" 消息 after:2026-12-01 before:2026-12-03"#,
            60,
        )
        .unwrap();
        assert_eq!(q.from.as_deref(), Some("ming"));
        assert_eq!(q.within, Some(Conv::Room("dev".into())));
        assert_eq!(
            q.terms,
            vec![t(&["long", "polling"], false), t(&["消息"], false)]
        );
        // 2026-12-02 00:00 at UTC+1 is 2026-12-01 23:00 UTC.
        assert_eq!(q.since, Some(1_796_166_000_000));
        assert_eq!(q.until, Some(1_796_252_400_000));
        assert_eq!(q.fts5(), "\"long polling\" AND \"消息\"");
        assert_eq!(q.tsquery(), "('long' <-> 'polling') & ('消息')");
        let dm = parse("in:@bob hi*", 0).unwrap();
        assert_eq!(dm.within, Some(Conv::Dm("bob".into())));
        assert_eq!(dm.fts5(), "\"hi\"*");
        assert_eq!(dm.tsquery(), "('hi':*)");
    }

    #[test]
    fn refusals() {
        assert_eq!(parse("   ", 0), Err(QueryError::Empty));
        assert_eq!(parse("...", 0), Err(QueryError::Empty));
        assert_eq!(
            parse("before:yesterday x", 0),
            Err(QueryError::BadDate("yesterday".into()))
        );
        assert_eq!(parse(&"a ".repeat(13), 0), Err(QueryError::TooManyTerms));
        assert_eq!(parse(&"a".repeat(300), 0), Err(QueryError::TooLong));
        assert_eq!(parse("in:# x", 0), Err(QueryError::BadWhere("in:#".into())));
        // An unclosed quote runs to the end; unknown filters are words.
        assert_eq!(
            parse("\"a b", 0).unwrap().terms,
            vec![t(&["a", "b"], false)]
        );
        assert_eq!(
            parse("to:x", 0).unwrap().terms,
            vec![t(&["to", "x"], false)]
        );
    }
}
