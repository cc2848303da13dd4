//! Names people see, in any script: display names, room titles and the
//! seed's guest nicknames; and the password policy ([`password`]).
//!
//! Handles (user and room ids) keep the ASCII rule of
//! [`app::protocol::valid_name`]. Everything here is free text that must
//! still be safe to show: NFC-normalized, trimmed, without control or
//! invisible characters, and never mistakable for someone's handle. Two
//! strings are *confusable* when their UTS #39 skeletons (casefolded) are
//! equal, as computed by the `unicode-security` crate.

pub mod password;

use unicode_normalization::UnicodeNormalization;
use unicode_security::{skeleton, RestrictionLevel, RestrictionLevelDetection};

/// Longest display name or room title, in characters.
pub const MAX_DISPLAY_CHARS: usize = 64;
/// Longest guest nickname, in characters.
pub const MAX_GUEST_CHARS: usize = 32;

/// Why a name was refused; `Display` is the sentence shown to the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("use 1 to {0} characters")]
    Length(usize),
    #[error("control and invisible characters are not allowed")]
    Invisible,
    #[error("a word may not mix Latin with Cyrillic or Greek letters")]
    MixedScript,
    #[error("this name looks like the handle of someone else")]
    Confusable,
}

impl NameError {
    /// The close reason the seed's guest page shows (at most 123 bytes).
    pub fn guest_reason(&self) -> &'static str {
        match self {
            NameError::Length(_) => "invalid name: use 1 to 32 characters",
            NameError::Invisible => {
                "invalid name: control and invisible characters are not allowed"
            }
            NameError::MixedScript => {
                "invalid name: a word may not mix Latin with Cyrillic or Greek letters"
            }
            NameError::Confusable => "this name looks like the handle of someone else",
        }
    }
}

/// The cleaned form of a display name or room title (NFC, trimmed, runs of
/// spaces made one), or why it cannot be used.
pub fn display_name(raw: &str) -> Result<String, NameError> {
    clean(raw, MAX_DISPLAY_CHARS)
}

/// The cleaned form of a guest nickname (already percent-decoded).
pub fn guest_name(raw: &str) -> Result<String, NameError> {
    clean(raw, MAX_GUEST_CHARS)
}

fn clean(raw: &str, max: usize) -> Result<String, NameError> {
    let normal: String = raw.nfc().collect();
    let mut out = String::with_capacity(normal.len());
    for word in normal.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let chars: Vec<char> = out.chars().collect();
    if chars.is_empty() || chars.len() > max {
        return Err(NameError::Length(max));
    }
    for (i, &c) in chars.iter().enumerate() {
        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
        if joiner {
            // ZWNJ and ZWJ shape Persian, Indic scripts and emoji sequences;
            // they are allowed between two visible characters only.
            let between =
                i > 0 && i + 1 < chars.len() && visible(chars[i - 1]) && visible(chars[i + 1]);
            if !between {
                return Err(NameError::Invisible);
            }
        } else if invisible(c) {
            return Err(NameError::Invisible);
        }
    }
    for word in out.split(' ') {
        let letters: String = word.chars().filter(|c| c.is_alphabetic()).collect();
        if letters.detect_restriction_level() == RestrictionLevel::MinimallyRestrictive {
            return Err(NameError::MixedScript);
        }
    }
    Ok(out)
}

fn visible(c: char) -> bool {
    c != ' ' && !invisible(c) && !matches!(c, '\u{200C}' | '\u{200D}')
}

/// Characters that draw nothing (or reorder what is drawn) and so could
/// hide what a name really is.
fn invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}'
            | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
            && !matches!(c, '\u{200C}' | '\u{200D}')
}

/// The key two names share when they look alike: the UTS #39 skeleton,
/// casefolded ("аlice" with a Cyrillic а, "ALICE" and "alice" share one).
pub fn confusable_key(name: &str) -> String {
    let folded = name.to_lowercase();
    let skeleton: String = skeleton(&folded).collect();
    skeleton.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_every_script_are_kept() {
        for name in [
            "小明",
            "Zoë Müller",
            "محمد",
            "Ивaн".replace('a', "а").as_str(),
            "🦊 Fox",
            "👩‍💻 dev",
        ] {
            assert_eq!(display_name(name).as_deref(), Ok(name), "{name}");
        }
        assert_eq!(display_name("  Zoe   Muller ").as_deref(), Ok("Zoe Muller"));
        // NFC: "e" + combining diaeresis becomes one "ë".
        assert_eq!(display_name("Zoe\u{308}").as_deref(), Ok("Zoë"));
        assert_eq!(guest_name("小明").as_deref(), Ok("小明"));
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(display_name(""), Err(NameError::Length(64)));
        assert_eq!(display_name("   "), Err(NameError::Length(64)));
        assert_eq!(display_name(&"字".repeat(65)), Err(NameError::Length(64)));
        assert_eq!(guest_name(&"字".repeat(33)), Err(NameError::Length(32)));
        for bad in [
            "a\u{202E}b",
            "a\u{200B}b",
            "a\nb",
            "a\tb",
            "\u{200D}a",
            "a\u{FEFF}",
        ] {
            assert_eq!(display_name(bad), Err(NameError::Invisible), "{bad:?}");
        }
        // Latin "alice" with a Cyrillic "а".
        assert_eq!(display_name("\u{430}lice"), Err(NameError::MixedScript));
    }

    #[test]
    fn look_alikes_share_a_key() {
        assert_eq!(confusable_key("\u{430}lice"), confusable_key("alice"));
        assert_eq!(confusable_key("ALICE"), confusable_key("alice"));
        assert_eq!(confusable_key("a1ice"), confusable_key("alice"));
        assert_ne!(confusable_key("小明"), confusable_key("alice"));
    }
}
