//! WebSocket (RFC 6455), the server side, over a plain `TcpStream`: our
//! own, so that a connection is one task holding no buffer while it is
//! idle, and a frame fanned out to many sockets is written from one shared
//! allocation. The opening handshake is HTTP's ([`crate::http::upgrade`]).
//!
//! No extension (compression) is offered, so none is ever agreed.

pub mod frame;
pub mod read;
pub mod socket;
pub mod utf8;
pub mod write;

pub use socket::{End, Heartbeat, Message, Socket};
