//! Frame budgets: token buckets for client frames per connection, per user and per client
//! address. A user with 16 sockets, or an address with many accounts, shares one budget, so
//! opening more connections buys no more frames.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use securechat_proto::ids::UserId;

/// A rate and the burst above it.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// A token bucket.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: Rate) -> Self {
        Self {
            tokens: f64::from(rate.burst),
            capacity: f64::from(rate.burst),
            per_second: f64::from(rate.per_second),
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back a token taken for a frame another budget then refused.
    fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }
}

/// Buckets shared by every connection with the same key; an entry lives while some
/// connection holds it.
struct Shared<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, (Bucket, usize)>>,
}

impl<K: Eq + Hash + Copy> Shared<K> {
    fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Bucket, usize)>> {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hold(&self, key: K) {
        self.lock()
            .entry(key)
            .or_insert_with(|| (Bucket::new(self.rate), 0))
            .1 += 1;
    }

    fn release(&self, key: K) {
        let mut buckets = self.lock();
        if let Some(entry) = buckets.get_mut(&key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                buckets.remove(&key);
            }
        }
    }

    fn take(&self, key: K) -> bool {
        self.lock()
            .get_mut(&key)
            .is_none_or(|(bucket, _)| bucket.take())
    }

    fn give_back(&self, key: K) {
        if let Some((bucket, _)) = self.lock().get_mut(&key) {
            bucket.give_back();
        }
    }
}

/// The per-user and per-address budgets of the whole server.
pub struct Budgets {
    users: Shared<UserId>,
    addresses: Shared<IpAddr>,
}

/// Which budget refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    Connection,
    User,
    Address,
}

impl Budgets {
    pub fn new(per_user: Rate, per_address: Rate) -> Arc<Self> {
        Arc::new(Self {
            users: Shared::new(per_user),
            addresses: Shared::new(per_address),
        })
    }

    /// One connection's share: its own bucket, plus its user's and its address's.
    pub fn join(self: &Arc<Self>, user: UserId, address: IpAddr, own: Rate) -> Lease {
        self.users.hold(user);
        self.addresses.hold(address);
        Lease {
            budgets: self.clone(),
            user,
            address,
            own: Bucket::new(own),
        }
    }
}

/// A connection's hold on the budgets; released when dropped.
pub struct Lease {
    budgets: Arc<Budgets>,
    user: UserId,
    address: IpAddr,
    own: Bucket,
}

impl Lease {
    /// Takes one frame from every budget, or from none.
    pub fn take(&mut self) -> Result<(), Exhausted> {
        if !self.own.take() {
            return Err(Exhausted::Connection);
        }
        if !self.budgets.users.take(self.user) {
            self.own.give_back();
            return Err(Exhausted::User);
        }
        if !self.budgets.addresses.take(self.address) {
            self.own.give_back();
            self.budgets.users.give_back(self.user);
            return Err(Exhausted::Address);
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.budgets.users.release(self.user);
        self.budgets.addresses.release(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_of_one_user_share_the_users_budget() {
        let budgets = Budgets::new(
            Rate {
                per_second: 0,
                burst: 3,
            },
            Rate {
                per_second: 0,
                burst: 100,
            },
        );
        let own = Rate {
            per_second: 0,
            burst: 10,
        };
        let user = UserId::generate();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let mut a = budgets.join(user, ip, own);
        let mut b = budgets.join(user, ip, own);
        assert_eq!(a.take(), Ok(()));
        assert_eq!(b.take(), Ok(()));
        assert_eq!(a.take(), Ok(()));
        assert_eq!(b.take(), Err(Exhausted::User));
        let other = UserId::generate();
        let mut c = budgets.join(other, ip, own);
        assert_eq!(c.take(), Ok(()), "another user has a budget of their own");
        drop((a, b, c));
        assert!(budgets.users.lock().is_empty() && budgets.addresses.lock().is_empty());
    }

    #[test]
    fn an_address_budget_caps_many_users_behind_it() {
        let budgets = Budgets::new(
            Rate {
                per_second: 0,
                burst: 100,
            },
            Rate {
                per_second: 0,
                burst: 2,
            },
        );
        let own = Rate {
            per_second: 0,
            burst: 10,
        };
        let ip: IpAddr = [127, 0, 0, 9].into();
        let mut leases: Vec<Lease> = (0..3)
            .map(|_| budgets.join(UserId::generate(), ip, own))
            .collect();
        assert_eq!(leases[0].take(), Ok(()));
        assert_eq!(leases[1].take(), Ok(()));
        assert_eq!(leases[2].take(), Err(Exhausted::Address));
    }
}
