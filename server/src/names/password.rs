//! The password policy, after NIST SP 800-63B for user-chosen passwords:
//! a length floor, a byte cap (so argon2 is never fed megabytes), no
//! composition rules, and a refusal of common and guessable passwords,
//! judged by the zxcvbn estimator (whose dictionaries hold the most used
//! and breached passwords, names and words) with the account's own names
//! as extra hints.

use zxcvbn::Score;

/// Shortest password, in characters.
pub const MIN_CHARS: usize = 8;
/// Longest password, in bytes (any passphrase fits; argon2's input stays small).
pub const MAX_BYTES: usize = 1024;
/// The estimator's lowest acceptable score (3: "safely unguessable",
/// about 10^8 guesses and more).
const MIN_SCORE: Score = Score::Three;
/// Characters the estimator reads: its cost grows with length, and a
/// password whose first 100 characters are strong is strong.
const JUDGED_CHARS: usize = 100;

/// The rule as the sign-in page states it before anyone types.
pub const RULE: &str = "At least 8 characters; spaces, emoji and any script welcome. \
     Common or easily guessed passwords (and your own name) are refused.";

/// Why `password` may not be chosen by the account `handle` (also known as
/// `display`), or `None` when it may.
pub fn refusal(password: &str, handle: &str, display: &str) -> Option<String> {
    if password.len() > MAX_BYTES {
        return Some(format!("use at most {MAX_BYTES} bytes"));
    }
    if password.chars().count() < MIN_CHARS {
        return Some(format!("use at least {MIN_CHARS} characters"));
    }
    let folded = password.trim().to_lowercase();
    if folded == handle.to_lowercase() || folded == display.trim().to_lowercase() {
        return Some("a password may not be your own name".to_string());
    }
    let judged: String = password.chars().take(JUDGED_CHARS).collect();
    let estimate = zxcvbn::zxcvbn(&judged, &[handle, display, "parley"]);
    if estimate.score() >= MIN_SCORE {
        return None;
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| w.to_string())
        .unwrap_or_else(|| "It is too easy to guess.".to_string());
    Some(format!(
        "this password is too easy to guess. {why} Try a few unrelated words."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_own_name_are_refused() {
        for (password, why) in [
            ("a", "at least 8"),
            ("1234567", "at least 8"),
            ("password", "too easy"),
            ("password-1", "too easy"),
            ("iloveyou123", "too easy"),
            ("qwertyuiop", "too easy"),
            ("aaaaaaaaaaaa", "too easy"),
            ("alice_smith", "own name"),
        ] {
            let refused = refusal(password, "alice_smith", "Alice").unwrap_or_default();
            assert!(refused.contains(why), "{password}: {refused:?}");
        }
        let huge = "x".repeat(MAX_BYTES + 1);
        assert!(refusal(&huge, "a", "a")
            .unwrap_or_default()
            .contains("at most"));
    }

    #[test]
    fn passphrases_in_any_script_are_accepted() {
        for password in [
            "tangerine otter 1729",
            "correct-kettle-violet",
            "我的密码是紫色的茶壶",
            "🦊 runs past the 🌵 at dawn",
            "Zoë mag Kaffee ohne Zucker",
        ] {
            assert_eq!(refusal(password, "alice", "Alice"), None, "{password}");
        }
    }
}
