//! The real-time side: the connection registry (`hub`), grouped durable delivery
//! (`delivery`) and its announcements (`fanout`), the work passed between them (`work`),
//! frame budgets (`budget`), and one task per WebSocket (`connection`).

pub mod budget;
pub mod connection;
pub mod delivery;
pub mod fanout;
pub mod frames;
pub mod hub;
pub mod routing;
pub mod work;
