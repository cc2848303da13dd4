//! Which parts of a found message matched, and the excerpt shown.

use super::query::{Query, Term};
use super::terms::{tokens, Kind, Token};

/// Most characters of a result's excerpt.
pub const EXCERPT_CHARS: usize = 240;
/// Characters kept before the first match when the text is cut.
const LEAD_CHARS: usize = 60;

/// Does `term` match `found` starting at its token `at`? The bytes it
/// covers when it does.
fn match_at(body: &str, term: &Term, found: &[Token], at: usize) -> Option<(usize, usize)> {
    let n = term.tokens.len();
    let window = found.get(at..at + n)?;
    for (i, (want, token)) in term.tokens.iter().zip(window).enumerate() {
        let last = i + 1 == n;
        let ok = if last && term.prefix {
            token.text.starts_with(want.as_str())
        } else {
            token.text == *want
        };
        if !ok {
            return None;
        }
    }
    let first = &window[0];
    let last = &window[n - 1];
    // A bigram matched by its first character alone marks that character.
    let one_char =
        term.prefix && last.kind == Kind::Bigram && term.tokens[n - 1].chars().count() == 1;
    let end = if one_char {
        last.start + body[last.start..].chars().next().map_or(0, char::len_utf8)
    } else {
        last.end
    };
    Some((first.start, end.max(first.start)))
}

/// The byte ranges of `body` that the query's terms match, in order and
/// merged where they touch.
pub fn marks(body: &str, query: &Query) -> Vec<(usize, usize)> {
    let found = tokens(body);
    let mut out: Vec<(usize, usize)> = Vec::new();
    for term in &query.terms {
        for at in 0..found.len() {
            if let Some(span) = match_at(body, term, &found, at) {
                out.push(span);
            }
        }
    }
    out.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(out.len());
    for (start, end) in out {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
        .into_iter()
        .filter(|&(s, e)| body.is_char_boundary(s) && body.is_char_boundary(e) && s < e)
        .collect()
}

/// At most [`EXCERPT_CHARS`] characters of `body` around its first mark
/// (with `…` where it was cut), and the marks within it as byte ranges of
/// the excerpt.
pub fn excerpt(body: &str, marks: &[(usize, usize)]) -> (String, Vec<(u32, u32)>) {
    let first = marks.first().map_or(0, |m| m.0);
    let before: Vec<usize> = body[..first].char_indices().map(|(i, _)| i).collect();
    let start = if before.len() > LEAD_CHARS {
        before[before.len() - LEAD_CHARS]
    } else {
        0
    };
    let end = body[start..]
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(body.len(), |(i, _)| start + i);
    let mut text = String::with_capacity(end - start + 6);
    let lead = if start > 0 { "…" } else { "" };
    text.push_str(lead);
    text.push_str(&body[start..end]);
    if end < body.len() {
        text.push('…');
    }
    let shift = lead.len();
    let inside = marks
        .iter()
        .filter(|&&(s, e)| s >= start && e <= end)
        .map(|&(s, e)| ((s - start + shift) as u32, (e - start + shift) as u32))
        .collect();
    (text, inside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::parse;

    fn marked(body: &str, q: &str) -> Vec<String> {
        let query = parse(q, 0).unwrap();
        marks(body, &query)
            .into_iter()
            .map(|(s, e)| body[s..e].to_owned())
            .collect()
    }

    #[test]
    fn words_phrases_and_cjk_are_marked_in_the_original_text() {
        assert_eq!(
            marked("Long polling, LONG POLLING!", "\"long polling\""),
            ["Long polling", "LONG POLLING"]
        );
        assert_eq!(marked("离线消息盒子里的消息", "消息"), ["消息", "消息"]);
        assert_eq!(
            marked("用WebSocket长连接", "WebSocket长连接"),
            ["WebSocket长连接"]
        );
        assert_eq!(marked("websockets everywhere", "web*"), ["websockets"]);
        // One character: the character, not the bigram it starts.
        assert_eq!(marked("消息盒子", "盒"), ["盒"]);
        assert_eq!(marked("Ｗｅｂ", "web"), ["Ｗｅｂ"]);
        assert!(marked("nothing here", "消息").is_empty());
    }

    #[test]
    fn the_excerpt_keeps_the_first_mark_in_view() {
        let body = format!("{}消息{}", "前".repeat(300), "后".repeat(300));
        let query = parse("消息", 0).unwrap();
        let (text, inside) = excerpt(&body, &marks(&body, &query));
        assert!(text.starts_with('…') && text.ends_with('…'));
        assert_eq!(inside.len(), 1);
        let (s, e) = inside[0];
        assert_eq!(&text[s as usize..e as usize], "消息");
        assert!(text.chars().count() <= EXCERPT_CHARS + 2);
        let (short, m) = excerpt("hi there", &[(3, 8)]);
        assert_eq!((short.as_str(), m), ("hi there", vec![(3, 8)]));
    }
}
