//! Who is online: a user is online while at least one of their WebSockets is open.

use std::collections::HashMap;
use std::sync::Mutex;

use securechat_proto::ids::UserId;

/// Open-connection counts per user.
#[derive(Debug, Default)]
pub struct Presence {
    connections: Mutex<HashMap<UserId, usize>>,
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, usize>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a new connection; true when the user just came online.
    pub fn connect(&self, user: UserId) -> bool {
        let mut map = self.lock();
        let count = map.entry(user).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Counts a closed connection; true when the user just went offline.
    pub fn disconnect(&self, user: UserId) -> bool {
        let mut map = self.lock();
        match map.get_mut(&user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                map.remove(&user);
                true
            }
            None => false,
        }
    }

    /// Whether the user has an open connection.
    pub fn is_online(&self, user: UserId) -> bool {
        self.lock().contains_key(&user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_until_the_last_connection_closes() {
        let presence = Presence::default();
        let user = UserId::generate();
        assert!(presence.connect(user));
        assert!(!presence.connect(user));
        assert!(!presence.disconnect(user));
        assert!(presence.is_online(user));
        assert!(presence.disconnect(user));
        assert!(!presence.is_online(user));
    }
}
