//! Group membership that the server cannot forge (docs/PROTOCOL.md §17).
//!
//! A group's membership is a chain of **changes**, each signed by the identity key of the
//! member who made it (an admin, or a member leaving) and linked to the previous one by a
//! hash. The server stores and serves the chain; every client verifies it from the first
//! change, against the identity keys it has pinned, and encrypts only to — and shows messages
//! only from — the members of the state it verified itself.
//!
//! - [`change`]: the signed change, its canonical bytes, signature and link.
//! - [`state`]: the membership a verified chain leads to, and the rules a change must obey.

pub mod change;
pub mod state;

pub use change::{Change, ChangeMember, Op, SignedChange};
pub use state::{GroupState, Member};

/// Most members a group may have.
pub const MAX_MEMBERS: usize = 256;

#[cfg(test)]
mod tests;
