//! The server's OPAQUE keys, and the state of a login between its two steps.
//!
//! The state is not kept by the server: it goes to the client sealed (AES-256-GCM under a
//! key derived from the token secret) as the `login_id`, and comes back with the
//! finalization, so the finish may reach any node. It lives 60 seconds. What it holds
//! (the key-exchange state, the account, how the start was counted) never leaves the
//! server in the clear.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::KeyInit as _;
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use securechat_opaque::server::Setup;
use securechat_proto::b64;
use securechat_proto::ids::{SessionId, UserId};
use sha2::Sha256;
use uuid::Uuid;

/// How long a started login may be finished.
pub const PENDING_TTL_MS: i64 = 60_000;

const STATE_LABEL: &[u8] = b"securechat OPAQUE pending login v1";
const NONCE: usize = 12;
/// Room for an address's text (45 at most) or an account key (a user id, 36).
const TEXT_FIELD: usize = 48;

/// What a started login is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A login (the token endpoint's OPAQUE grant finishes it).
    Login = 1,
    /// A signed-in user proving the current password (a change, an account deletion).
    Confirm = 2,
}

/// A login between its two steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub purpose: Purpose,
    pub expires_at: i64,
    /// The account, when the login name found one with an OPAQUE record.
    pub user: Option<UserId>,
    /// How the start was counted against the failed-login limits: the source, the address
    /// and the account key (a user id; empty for a name without an OPAQUE account, whose
    /// finish fails anyway). At most 48 bytes each.
    pub known_source: bool,
    pub ip: String,
    pub account: String,
    /// The id the finished login's session gets: a second finish of the same login finds it
    /// taken (`Conflict(Session)`), so a finish counts once, on whichever node.
    pub session: SessionId,
    /// A digest of the record the login was started against (zeros without one): a
    /// password changed in between makes the finish fail.
    pub record_digest: [u8; 16],
    /// opaque-ke's server state (secret).
    pub state: Vec<u8>,
}

/// The digest a pending login keeps of its record.
pub fn record_digest(record: Option<&[u8]>) -> [u8; 16] {
    use sha2::Digest as _;
    let mut out = [0u8; 16];
    if let Some(record) = record {
        out.copy_from_slice(&Sha256::digest(record)[..16]);
    }
    out
}

impl Pending {
    fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(64 + self.ip.len() + self.account.len() + self.state.len());
        out.push(self.purpose as u8);
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(self.user.map_or(Uuid::nil(), |u| u.0).as_bytes());
        out.push(u8::from(self.known_source));
        out.extend_from_slice(self.session.0.as_bytes());
        out.extend_from_slice(&self.record_digest);
        // Fixed-size fields: the sealed state of an unknown account is as long as a real one.
        for text in [&self.ip, &self.account] {
            let bytes = &text.as_bytes()[..text.len().min(TEXT_FIELD)];
            out.push(u8::try_from(bytes.len()).unwrap_or(0));
            out.extend_from_slice(bytes);
            out.resize(out.len() + TEXT_FIELD - bytes.len(), 0);
        }
        out.extend_from_slice(&self.state);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (&purpose, rest) = bytes.split_first()?;
        let purpose = match purpose {
            1 => Purpose::Login,
            2 => Purpose::Confirm,
            _ => return None,
        };
        let (expires, rest) = rest.split_first_chunk::<8>()?;
        let (user, rest) = rest.split_first_chunk::<16>()?;
        let (&known, rest) = rest.split_first()?;
        let (session, rest) = rest.split_first_chunk::<16>()?;
        let (record_digest, mut rest) = rest.split_first_chunk::<16>()?;
        let mut texts = [String::new(), String::new()];
        for text in &mut texts {
            let (&len, tail) = rest.split_first()?;
            let (field, tail) = tail.split_first_chunk::<TEXT_FIELD>()?;
            *text = String::from_utf8(field.get(..usize::from(len))?.to_vec()).ok()?;
            rest = tail;
        }
        let user = Uuid::from_bytes(*user);
        let [ip, account] = texts;
        Some(Self {
            purpose,
            expires_at: i64::from_be_bytes(*expires),
            user: (!user.is_nil()).then_some(UserId(user)),
            known_source: known == 1,
            session: SessionId(Uuid::from_bytes(*session)),
            record_digest: *record_digest,
            ip,
            account,
            state: rest.to_vec(),
        })
    }
}

/// The OPAQUE setup and the key sealing pending logins, both from the token secret.
pub struct OpaqueKeys {
    setup: Setup,
    seal: Aes256Gcm,
}

impl OpaqueKeys {
    pub fn from_token_secret(secret: &[u8]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(STATE_LABEL);
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self {
            setup: Setup::from_token_secret(secret),
            seal: Aes256Gcm::new(&key.into()),
        }
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// The `login_id` the client carries to the finish.
    pub fn seal(&self, pending: &Pending) -> String {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let plain = pending.encode();
        // Encrypting into a Vec cannot fail for inputs this small.
        let sealed = self
            .seal
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: STATE_LABEL,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        b64::encode(out)
    }

    /// The pending login a `login_id` holds, if it is genuine, for `purpose` and not expired.
    pub fn open(&self, login_id: &str, purpose: Purpose, now: i64) -> Option<Pending> {
        if login_id.len() > 1024 {
            return None;
        }
        let bytes = b64::decode(login_id).ok()?;
        let (nonce, sealed) = bytes.split_first_chunk::<NONCE>()?;
        let plain = self
            .seal
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: STATE_LABEL,
                },
            )
            .ok()?;
        Pending::decode(&plain).filter(|p| p.purpose == purpose && p.expires_at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            purpose: Purpose::Login,
            expires_at: 1_000,
            user: Some(UserId(Uuid::from_u128(
                0x0193_650e_2c00_7a11_8ce0_a11c_e000_0001,
            ))),
            known_source: true,
            ip: "2001:db8::1".into(),
            account: "0193650e-2c00-7a11-8ce0-a11ce0000001".into(),
            session: SessionId(Uuid::from_u128(0x0193_650e_2c00_7a11_8ce0_5e55_1000_0001)),
            record_digest: record_digest(Some(&[1; 192])),
            state: vec![7; 160],
        }
    }

    #[test]
    fn a_sealed_login_opens_only_here_for_its_purpose_until_it_expires() {
        let keys = OpaqueKeys::from_token_secret(b"a token secret of at least 32 bytes!!");
        let sealed = keys.seal(&pending());
        assert_eq!(keys.open(&sealed, Purpose::Login, 999), Some(pending()));
        assert_eq!(keys.open(&sealed, Purpose::Login, 1_000), None);
        assert_eq!(keys.open(&sealed, Purpose::Confirm, 999), None);
        let other = OpaqueKeys::from_token_secret(b"another token secret, also 32 bytes");
        assert_eq!(other.open(&sealed, Purpose::Login, 999), None);
        let mut tampered = b64::decode(&sealed).expect("b64");
        tampered[20] ^= 1;
        assert_eq!(keys.open(&b64::encode(tampered), Purpose::Login, 999), None);
        assert_eq!(keys.open("not base64!", Purpose::Login, 999), None);
        let unknown = Pending {
            user: None,
            ..pending()
        };
        assert_eq!(
            keys.open(&keys.seal(&unknown), Purpose::Login, 0),
            Some(unknown)
        );
    }
}
