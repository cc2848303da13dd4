//! The WebSocket `readyState`, as the page shows it.

/// Mirrors `WebSocket.readyState` (0 to 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReadyState {
    Connecting,
    Open,
    Closing,
    /// Also the state before the first connection attempt.
    #[default]
    Closed,
}

impl ReadyState {
    /// From the numeric `WebSocket.readyState`.
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }

    /// The machine name, used for the `data-ready-state` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadyState::Connecting => "connecting",
            ReadyState::Open => "open",
            ReadyState::Closing => "closing",
            ReadyState::Closed => "closed",
        }
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            ReadyState::Connecting => "Connecting…",
            ReadyState::Open => "Online",
            ReadyState::Closing | ReadyState::Closed => "Offline",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_names() {
        let names: Vec<_> = (0..5).map(|c| ReadyState::from_code(c).as_str()).collect();
        assert_eq!(names, ["connecting", "open", "closing", "closed", "closed"]);
    }

    #[test]
    fn labels_are_human() {
        assert_eq!(ReadyState::Open.label(), "Online");
        assert_eq!(ReadyState::Connecting.label(), "Connecting…");
        assert_eq!(ReadyState::Closed.label(), "Offline");
    }
}
