//! Message text, split into plain text and web links. The page renders
//! both as text nodes (a link's text too), never as HTML.

/// A piece of a message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    /// An `http://` or `https://` address.
    Link(String),
}

/// Split `body` into text and links.
pub fn segments(body: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = body;
    while let Some(start) = next_scheme(rest) {
        let tail = &rest[start..];
        let scheme = if tail.starts_with("https://") { 8 } else { 7 };
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(tail.len());
        // Punctuation after a link belongs to the sentence.
        while end > scheme && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')', ']', '\''])
        {
            end -= 1;
        }
        // A link must start a word, and have something after the scheme.
        let starts_word = rest[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if end <= scheme || !starts_word {
            text.push_str(&rest[..start + scheme]);
            rest = &rest[start + scheme..];
            continue;
        }
        text.push_str(&rest[..start]);
        if !text.is_empty() {
            out.push(Segment::Text(std::mem::take(&mut text)));
        }
        out.push(Segment::Link(tail[..end].to_owned()));
        rest = &tail[end..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    out
}

fn next_scheme(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    [lower.find("https://"), lower.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(s: &str) -> Segment {
        Segment::Link(s.into())
    }

    fn text(s: &str) -> Segment {
        Segment::Text(s.into())
    }

    #[test]
    fn finds_links_and_leaves_the_rest() {
        assert_eq!(
            segments("see https://example.com/a?b=1, and http://x.org."),
            [
                text("see "),
                link("https://example.com/a?b=1"),
                text(", and "),
                link("http://x.org"),
                text("."),
            ]
        );
        assert_eq!(segments("plain"), [text("plain")]);
        assert_eq!(segments("http:// nothing"), [text("http:// nothing")]);
        assert_eq!(segments("xhttp://a.b"), [text("xhttp://a.b")]);
        assert_eq!(
            segments("<img src=x onerror=alert(1)>"),
            [text("<img src=x onerror=alert(1)>")]
        );
        assert_eq!(
            segments("javascript:alert(1)"),
            [text("javascript:alert(1)")]
        );
    }
}
