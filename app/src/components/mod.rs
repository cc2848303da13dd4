//! The page's building blocks. Each reads what it needs from the
//! [`Connection`](crate::client::Connection) in context or from its props.

pub mod home;
pub mod lobby;
pub mod not_found;
pub mod sign_in;
pub mod status;
