//! The page's building blocks. Each reads what it needs from the
//! [`Connection`](crate::client::Connection) in context or from its props.

pub mod composer;
pub mod conversation;
pub mod not_found;
pub mod shell;
pub mod sidebar;
pub mod sign_in;
pub mod status;
