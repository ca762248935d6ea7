//! The network front end: the accept loop and per-connection framing. Nothing here knows
//! what a request means; `api` does.

pub mod buffer_pool;
pub mod connection;
pub mod listener;
pub mod memory_pool;
pub mod reply_writer;

pub use connection::ConnectionLimits;
pub use listener::Listener;
pub use memory_pool::MemoryPool;
