//! The benchmark scenarios of `docs/benchmarks.md`.

pub mod directory;
pub mod fanout;
pub mod idle;
pub mod longpoll;
pub mod reactions;
pub mod rooms;
pub mod search;
pub mod smoke;
pub mod store;
pub mod storm;
