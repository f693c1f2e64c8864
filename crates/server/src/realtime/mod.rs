//! The real-time side: the connection registry (`hub`), grouped durable delivery
//! (`delivery`), removal announcements (`fanout`), and one task per WebSocket (`connection`).

pub mod connection;
pub mod delivery;
pub mod fanout;
pub mod frames;
pub mod hub;
pub mod routing;
