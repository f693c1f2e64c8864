//! What nodes say to each other over Redis pub/sub. Every word is a hint: the database holds
//! the truth, and a node that misses words reads what it needs from there.
//!
//! Channels and payloads (text, fields separated by one space, the frame text last):
//! - `sc:u:<user id>`: `<node> e <seq> <frame>` (an event of the user's stream) or
//!   `<node> o 0 <frame>` (a frame outside the stream, such as a reader's own receipt echo);
//! - `sc:presence`: `c <node> <user> <connections>` (the user's connections on that node
//!   changed), `h <node> <digest>` (heartbeat: the node is alive, with a digest of its list),
//!   `s <node> <user>:<connections>…` (a node's full list), `q <node> <target>` (asks node
//!   `target`, or every node for `*`, for its full list);
//! - `sc:revoke`: `<node> <reason> <session id>…` (sessions revoked: close their sockets,
//!   forget them).

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::ws::Protocol;

use crate::realtime::frames::Place;

pub const PRESENCE: &str = "sc:presence";
pub const REVOKE: &str = "sc:revoke";
const USER_PREFIX: &str = "sc:u:";

/// The channel of one user's words.
pub fn user_channel(user: UserId) -> String {
    format!("{USER_PREFIX}{}", user.0)
}

/// The user a channel belongs to, if it is a user channel.
pub fn channel_user(channel: &str) -> Option<UserId> {
    let id = channel.strip_prefix(USER_PREFIX)?;
    uuid::Uuid::parse_str(id).ok().map(UserId)
}

/// A frame for a user's sessions on other nodes.
pub fn user_word(node: &str, place: Place, frame: &str) -> Option<String> {
    let (kind, seq) = match place {
        Place::Event(seq) => ('e', seq),
        Place::Outside => ('o', 0),
        Place::Since(version) => ('v', u64::from(version.number())),
        // Acks go to the sending connection only; tips are this node's own business.
        Place::Ack(_) | Place::Tip(_) => return None,
    };
    Some(format!("{node} {kind} {seq} {frame}"))
}

/// A user word read back: who sent it, where the frame stands, the frame.
pub fn parse_user_word(payload: &str) -> Option<(&str, Place, &str)> {
    let mut parts = payload.splitn(4, ' ');
    let node = parts.next()?;
    let kind = parts.next()?;
    let seq: u64 = parts.next()?.parse().ok()?;
    let frame = parts.next()?;
    let place = match kind {
        "e" if seq > 0 => Place::Event(seq),
        "o" => Place::Outside,
        "v" => Place::Since(Protocol::from_number(u32::try_from(seq).ok()?)?),
        _ => return None,
    };
    Some((node, place, frame))
}

/// A presence word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceWord {
    Changed {
        node: String,
        user: UserId,
        connections: u32,
    },
    Heartbeat {
        node: String,
        digest: u64,
    },
    Snapshot {
        node: String,
        users: Vec<(UserId, u32)>,
    },
    /// Asks `target` (a node id, or `*` for every node) for its full list.
    Query {
        node: String,
        target: String,
    },
}

/// A digest of a node's list of (user, connections), the same whatever the order: two
/// lists with the same digest are taken to be the same.
pub fn presence_digest(users: impl Iterator<Item = (UserId, u32)>) -> u64 {
    users.fold(0u64, |digest, (user, connections)| {
        let (high, low) = user.0.as_u64_pair();
        digest ^ mix(high ^ mix(low ^ u64::from(connections)))
    })
}

/// splitmix64's finaliser: a fixed, well-spread 64-bit mix (the same on every build).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl PresenceWord {
    pub fn encode(&self) -> String {
        match self {
            Self::Changed {
                node,
                user,
                connections,
            } => format!("c {node} {} {connections}", user.0),
            Self::Heartbeat { node, digest } => format!("h {node} {digest}"),
            Self::Snapshot { node, users } => {
                let mut text = format!("s {node}");
                for (user, connections) in users {
                    text.push_str(&format!(" {}:{connections}", user.0));
                }
                text
            }
            Self::Query { node, target } => format!("q {node} {target}"),
        }
    }

    pub fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.split(' ');
        let kind = parts.next()?;
        let node = parts.next()?.to_owned();
        Some(match kind {
            "c" => Self::Changed {
                node,
                user: parse_user(parts.next()?)?,
                connections: parts.next()?.parse().ok()?,
            },
            "h" => Self::Heartbeat {
                node,
                digest: parts.next()?.parse().ok()?,
            },
            "s" => Self::Snapshot {
                node,
                users: parts
                    .map(|entry| {
                        let (user, connections) = entry.split_once(':')?;
                        Some((parse_user(user)?, connections.parse().ok()?))
                    })
                    .collect::<Option<Vec<_>>>()?,
            },
            "q" => Self::Query {
                node,
                target: parts.next()?.to_owned(),
            },
            _ => return None,
        })
    }
}

fn parse_user(text: &str) -> Option<UserId> {
    uuid::Uuid::parse_str(text).ok().map(UserId)
}

/// Why sessions were revoked; says what their sockets are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Logout,
    PasswordChanged,
    RefreshReuse,
    /// The password was reset with a one-time code.
    PasswordReset,
    /// The account was deleted.
    AccountDeleted,
    /// Seen revoked in the database (the reason is not kept there).
    Elsewhere,
}

impl Revocation {
    pub fn message(self) -> &'static str {
        match self {
            Self::Logout => "signed out",
            Self::PasswordChanged => "signed out: the password was changed",
            Self::RefreshReuse => "session revoked: refresh token reuse",
            Self::PasswordReset => "signed out: the password was reset",
            Self::AccountDeleted => "signed out: the account was deleted",
            Self::Elsewhere => "signed out elsewhere",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::PasswordChanged => "password",
            Self::RefreshReuse => "reuse",
            Self::PasswordReset => "reset",
            Self::AccountDeleted => "deleted",
            Self::Elsewhere => "other",
        }
    }

    fn from_code(code: &str) -> Self {
        match code {
            "logout" => Self::Logout,
            "password" => Self::PasswordChanged,
            "reuse" => Self::RefreshReuse,
            "reset" => Self::PasswordReset,
            "deleted" => Self::AccountDeleted,
            _ => Self::Elsewhere,
        }
    }
}

/// A revocation word.
pub fn revoke_word(node: &str, why: Revocation, sessions: &[SessionId]) -> String {
    let mut text = format!("{node} {}", why.code());
    for session in sessions {
        text.push_str(&format!(" {}", session.0));
    }
    text
}

/// A revocation word read back.
pub fn parse_revoke_word(payload: &str) -> Option<(&str, Revocation, Vec<SessionId>)> {
    let mut parts = payload.split(' ');
    let node = parts.next()?;
    let why = Revocation::from_code(parts.next()?);
    let sessions = parts
        .map(|id| uuid::Uuid::parse_str(id).ok().map(SessionId))
        .collect::<Option<Vec<_>>>()?;
    Some((node, why, sessions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back_as_written() {
        let user = UserId::generate();
        let frame = r#"{"type":"message","seq":7,"text":"a b c"}"#;
        let word = user_word("n1", Place::Event(7), frame).unwrap();
        assert_eq!(parse_user_word(&word), Some(("n1", Place::Event(7), frame)));
        let word = user_word("n1", Place::Outside, frame).unwrap();
        assert_eq!(parse_user_word(&word), Some(("n1", Place::Outside, frame)));
        assert_eq!(user_word("n1", Place::Ack(3), frame), None);
        let word = user_word("n1", Place::Since(Protocol::V3), frame).unwrap();
        assert_eq!(
            parse_user_word(&word),
            Some(("n1", Place::Since(Protocol::V3), frame))
        );
        assert_eq!(parse_user_word("n1 v 99 {}"), None, "an unknown version");
        assert_eq!(channel_user(&user_channel(user)), Some(user));
        assert_eq!(channel_user(PRESENCE), None);

        for word in [
            PresenceWord::Changed {
                node: "n2".into(),
                user,
                connections: 3,
            },
            PresenceWord::Heartbeat {
                node: "n2".into(),
                digest: u64::MAX - 3,
            },
            PresenceWord::Snapshot {
                node: "n2".into(),
                users: vec![(user, 1), (UserId::generate(), 2)],
            },
            PresenceWord::Snapshot {
                node: "n2".into(),
                users: vec![],
            },
            PresenceWord::Query {
                node: "n2".into(),
                target: "*".into(),
            },
        ] {
            assert_eq!(PresenceWord::parse(&word.encode()), Some(word));
        }

        let sessions = vec![SessionId::generate(), SessionId::generate()];
        let word = revoke_word("n3", Revocation::PasswordChanged, &sessions);
        assert_eq!(
            parse_revoke_word(&word),
            Some(("n3", Revocation::PasswordChanged, sessions))
        );
        assert_eq!(parse_user_word("n1 e x {}"), None);
        let (a, b) = (UserId::generate(), UserId::generate());
        assert_eq!(
            presence_digest([(a, 1), (b, 2)].into_iter()),
            presence_digest([(b, 2), (a, 1)].into_iter())
        );
        assert_ne!(
            presence_digest([(a, 1), (b, 2)].into_iter()),
            presence_digest([(a, 2), (b, 1)].into_iter())
        );
        assert_eq!(presence_digest(std::iter::empty()), 0);
        assert_eq!(PresenceWord::parse("c n1 not-a-user 1"), None);
    }
}

pub const LIMITS: &str = "sc:limits";

/// A counted event of a limit that a client could dodge by changing node (failed logins,
/// registrations). Every node counts the others' events as its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitWord {
    LoginFailed {
        known_source: bool,
        ip: String,
        account: String,
    },
    LoginSucceeded {
        known_source: bool,
        ip: String,
        account: String,
    },
    /// An OPAQUE login counted as failed at its first step that then succeeded.
    LoginForgiven {
        known_source: bool,
        ip: String,
        account: String,
    },
    /// A wrong current password in a password change (counts against the account).
    PasswordCheckFailed { account: String },
    /// An OPAQUE proof of the current password counted as failed that then succeeded.
    PasswordCheckForgiven { account: String },
    /// A registration from `ip` (counts against it and the server-wide budget).
    Registered { ip: String },
}

impl LimitWord {
    /// `lf|ls|lv <node> <0|1> <ip> <account>`, `pf|pv <node> <account>`, `rg <node> <ip>`.
    /// A node of an older version drops the kinds it does not know.
    pub fn encode(&self, node: &str) -> String {
        match self {
            Self::LoginFailed {
                known_source,
                ip,
                account,
            } => format!("lf {node} {} {ip} {account}", u8::from(*known_source)),
            Self::LoginSucceeded {
                known_source,
                ip,
                account,
            } => format!("ls {node} {} {ip} {account}", u8::from(*known_source)),
            Self::LoginForgiven {
                known_source,
                ip,
                account,
            } => format!("lv {node} {} {ip} {account}", u8::from(*known_source)),
            Self::PasswordCheckFailed { account } => format!("pf {node} {account}"),
            Self::PasswordCheckForgiven { account } => format!("pv {node} {account}"),
            Self::Registered { ip } => format!("rg {node} {ip}"),
        }
    }

    /// The word and the node that sent it.
    pub fn parse(payload: &str) -> Option<(&str, Self)> {
        let (kind, rest) = payload.split_once(' ')?;
        let (node, rest) = rest.split_once(' ')?;
        let login = |rest: &str| -> Option<(bool, String, String)> {
            let mut parts = rest.splitn(3, ' ');
            let known = parts.next()? == "1";
            Some((known, parts.next()?.to_owned(), parts.next()?.to_owned()))
        };
        let word = match kind {
            "lf" => {
                let (known_source, ip, account) = login(rest)?;
                Self::LoginFailed {
                    known_source,
                    ip,
                    account,
                }
            }
            "ls" => {
                let (known_source, ip, account) = login(rest)?;
                Self::LoginSucceeded {
                    known_source,
                    ip,
                    account,
                }
            }
            "lv" => {
                let (known_source, ip, account) = login(rest)?;
                Self::LoginForgiven {
                    known_source,
                    ip,
                    account,
                }
            }
            "pf" => Self::PasswordCheckFailed {
                account: rest.to_owned(),
            },
            "pv" => Self::PasswordCheckForgiven {
                account: rest.to_owned(),
            },
            "rg" => Self::Registered {
                ip: rest.to_owned(),
            },
            _ => return None,
        };
        Some((node, word))
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn limit_words_read_back_as_written() {
        for word in [
            LimitWord::LoginFailed {
                known_source: true,
                ip: "192.0.2.1".into(),
                account: "alice@example.org".into(),
            },
            LimitWord::LoginSucceeded {
                known_source: false,
                ip: "2001:db8::1".into(),
                account: "a name with spaces".into(),
            },
            LimitWord::PasswordCheckFailed {
                account: "bob".into(),
            },
            LimitWord::LoginForgiven {
                known_source: true,
                ip: "192.0.2.2".into(),
                account: "carol".into(),
            },
            LimitWord::PasswordCheckForgiven {
                account: "dave".into(),
            },
            LimitWord::Registered {
                ip: "198.51.100.7".into(),
            },
        ] {
            assert_eq!(LimitWord::parse(&word.encode("n-1")), Some(("n-1", word)));
        }
        assert_eq!(LimitWord::parse("zz n-1 x"), None);
    }
}
