//! The words a message is found by, the same for the index and the query.
//!
//! Text is folded first: compatibility forms (full-width letters,
//! half-width katakana), case, and (outside CJK) accents, so `Ｗｅｂ`,
//! `WEB` and `wéb` are all `web`. Then:
//!
//! - a run of letters and digits of any script that writes spaces is a
//!   **word**;
//! - a run of Chinese, Japanese or Korean characters, which has no spaces
//!   to split on, becomes its **bigrams**, every pair of neighbours, and
//!   its last character alone: `离线消息` is `离线 线消 消息 息`. Any two
//!   characters of the run are then one term, so `消息` is found inside
//!   `离线消息盒子` without a dictionary, and a longer query is a phrase of
//!   its bigrams.
//!
//! Everything else (punctuation, symbols, emoji, spaces) separates.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Longest word kept whole, in characters (longer ones are cut there).
pub const MAX_WORD_CHARS: usize = 48;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    /// Two neighbouring CJK characters.
    Bigram,
    /// The last character of a CJK run.
    Last,
}

/// One token, with the bytes of the original text it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Characters written without spaces between words: Han (with its
/// extensions and compatibility forms), kana and Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF       // hiragana, katakana
        | 0x31F0..=0x31FF     // katakana extensions
        | 0x3400..=0x4DBF     // Han extension A
        | 0x4E00..=0x9FFF     // Han
        | 0xF900..=0xFAFF     // Han compatibility
        | 0x1100..=0x11FF     // Hangul jamo
        | 0x3130..=0x318F     // Hangul compatibility jamo
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0x20000..=0x3FFFF   // Han extensions B and later
    ) && c.is_alphabetic()
        || matches!(c as u32, 0x3005 | 0x30FC) // 々 and ー
}

/// `c` folded: CJK characters in their composed compatibility form
/// (half-width katakana become full-width, and Hangul stays syllables),
/// others decomposed without their accents, lower-cased.
fn fold(c: char, out: &mut Vec<char>) {
    out.clear();
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let composed: Vec<char> = std::iter::once(c).nfkc().collect();
    if composed.iter().any(|&c| is_cjk(c)) {
        out.extend(composed);
        return;
    }
    for d in std::iter::once(c).nfkd() {
        if !is_combining_mark(d) {
            out.extend(d.to_lowercase());
        }
    }
}

/// Where tokens go as they are found.
trait Sink {
    fn token(&mut self, text: &str, kind: Kind, start: usize, end: usize);
}

impl Sink for Vec<Token> {
    fn token(&mut self, text: &str, kind: Kind, start: usize, end: usize) {
        self.push(Token {
            text: text.to_owned(),
            kind,
            start,
            end,
        });
    }
}

/// The tokens' texts alone, separated by spaces (a token is never empty).
struct Joined(String);

impl Sink for Joined {
    fn token(&mut self, text: &str, _: Kind, _: usize, _: usize) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(text);
    }
}

/// What is being gathered.
struct Runs<S> {
    sink: S,
    word: String,
    word_chars: usize,
    word_span: (usize, usize),
    /// The CJK run: each character with its bytes.
    cjk: Vec<(char, usize, usize)>,
    /// A bigram or a run's last character, as it is handed over.
    piece: String,
}

impl<S: Sink> Runs<S> {
    fn new(sink: S) -> Self {
        Runs {
            sink,
            word: String::new(),
            word_chars: 0,
            word_span: (0, 0),
            cjk: Vec::new(),
            piece: String::new(),
        }
    }

    fn end_word(&mut self) {
        if !self.word.is_empty() {
            self.sink
                .token(&self.word, Kind::Word, self.word_span.0, self.word_span.1);
            self.word.clear();
            self.word_chars = 0;
        }
    }

    fn end_cjk(&mut self) {
        if self.cjk.is_empty() {
            return;
        }
        for pair in self.cjk.windows(2) {
            let (a, start, _) = pair[0];
            let (b, _, end) = pair[1];
            self.piece.clear();
            self.piece.push(a);
            self.piece.push(b);
            self.sink.token(&self.piece, Kind::Bigram, start, end);
        }
        if let Some(&(c, start, end)) = self.cjk.last() {
            self.piece.clear();
            self.piece.push(c);
            self.sink.token(&self.piece, Kind::Last, start, end);
        }
        self.cjk.clear();
    }

    fn push_word_char(&mut self, c: char, start: usize, end: usize) {
        if self.word.is_empty() {
            self.word_span = (start, end);
        }
        self.word_span.1 = end;
        if self.word_chars < MAX_WORD_CHARS {
            self.word.push(c);
            self.word_chars += 1;
        }
    }
}

/// The tokens of `text`, in order, into `sink`.
fn tokenize<S: Sink>(text: &str, sink: S) -> S {
    let mut runs = Runs::new(sink);
    let mut folded = Vec::with_capacity(4);
    for (start, original) in text.char_indices() {
        let end = start + original.len_utf8();
        if original.is_ascii() {
            // What `fold` and the branches below come to for ASCII, which
            // is neither a combining mark nor CJK.
            if original.is_ascii_alphanumeric() {
                runs.end_cjk();
                runs.push_word_char(original.to_ascii_lowercase(), start, end);
            } else {
                runs.end_word();
                runs.end_cjk();
            }
            continue;
        }
        if is_combining_mark(original) {
            // An accent typed apart from its letter belongs to the word.
            if !runs.word.is_empty() {
                runs.word_span.1 = end;
            }
            continue;
        }
        fold(original, &mut folded);
        for &c in &folded {
            if is_cjk(c) {
                runs.end_word();
                runs.cjk.push((c, start, end));
            } else if c.is_alphanumeric() {
                runs.end_cjk();
                runs.push_word_char(c, start, end);
            } else {
                runs.end_word();
                runs.end_cjk();
            }
        }
    }
    runs.end_word();
    runs.end_cjk();
    runs.sink
}

/// The tokens of `text`, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    tokenize(text, Vec::new())
}

/// What the index stores for a message: its tokens, separated by spaces
/// (a token never holds a space or punctuation). The same as joining
/// [`tokens`]' texts, without making them.
pub fn index_text(body: &str) -> String {
    tokenize(body, Joined(String::with_capacity(body.len() + 8))).0
}

/// PostgreSQL's most positions in a `tsvector`.
const MAX_TS_POSITION: usize = 16_383;

/// [`index_text`] as a PostgreSQL `tsvector` literal, each token at its
/// position (so phrases match), cast on the server with no
/// language-dependent processing.
pub fn tsvector(index_text: &str) -> String {
    let mut out = String::with_capacity(index_text.len() * 2);
    for (i, token) in index_text.split(' ').filter(|t| !t.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('\'');
        out.push_str(token);
        out.push_str("':");
        out.push_str(&(i + 1).min(MAX_TS_POSITION).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn words_are_folded() {
        assert_eq!(
            texts("Hello, WÖRLD! Ｗｅｂ café’s 2026"),
            ["hello", "world", "web", "cafe", "s", "2026"]
        );
        // An accent typed as its own character stays with its word.
        assert_eq!(texts("cafe\u{301} ok"), ["cafe", "ok"]);
    }

    #[test]
    fn cjk_runs_become_bigrams_and_their_last_character() {
        assert_eq!(
            texts("离线消息盒子"),
            ["离线", "线消", "消息", "息盒", "盒子", "子"]
        );
        assert_eq!(texts("好"), ["好"]);
        assert_eq!(
            texts("WebSocket长连接。OK"),
            ["websocket", "长连", "连接", "接", "ok"]
        );
        // Half-width katakana are folded to full width; Hangul stays whole.
        assert_eq!(texts("ｶﾀ"), ["カタ", "タ"]);
        assert_eq!(texts("한국어"), ["한국", "국어", "어"]);
    }

    #[test]
    fn spans_cover_the_original_text() {
        let text = "Ｗｅｂ 消息!";
        for token in tokens(text) {
            assert!(text.get(token.start..token.end).is_some());
        }
        let t = tokens(text);
        assert_eq!(&text[t[0].start..t[0].end], "Ｗｅｂ");
        assert_eq!(&text[t[1].start..t[1].end], "消息");
    }

    #[test]
    fn the_index_text_and_its_tsvector() {
        assert_eq!(index_text("Hi 消息"), "hi 消息 息");
        assert_eq!(tsvector("hi 消息 息"), "'hi':1 '消息':2 '息':3");
        assert_eq!(index_text("  ...  "), "");
        assert_eq!(tsvector(""), "");
    }

    #[test]
    fn the_index_text_is_the_tokens_joined() {
        for text in [
            "Hello, WÖRLD! Ｗｅｂ café’s 2026",
            "cafe\u{301} ok",
            "用WebSocket长连接推送，离线消息放在盒子里 ok",
            "ｶﾀ 한국어 々ー x",
            "1 0 5 1764844800000000000 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "",
            "🎉 ... 🎉",
        ] {
            let joined: Vec<String> = texts(text);
            assert_eq!(index_text(text), joined.join(" "), "{text:?}");
        }
    }

    #[test]
    fn long_words_are_cut() {
        let long = "a".repeat(500);
        assert_eq!(texts(&long)[0].chars().count(), MAX_WORD_CHARS);
    }
}
