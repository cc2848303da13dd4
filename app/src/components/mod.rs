//! The page's building blocks. Each reads what it needs from the
//! [`Connection`](crate::client::Connection) in context or from its props.

pub mod account;
pub mod admin;
pub mod composer;
pub mod conversation;
pub mod icons;
pub mod message;
pub mod message_actions;
pub mod message_dialogs;
pub mod message_ui;
pub mod not_found;
pub mod notify;
pub mod reactions;
pub mod rich_text;
pub mod room_dialogs;
pub mod room_settings;
pub mod rooms;
pub mod search;
pub mod shell;
pub mod sidebar;
pub mod sign_in;
pub mod status;
