//! Argon2id password hashing at OWASP parameters, off the async threads and bounded.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Memory cost in KiB (19 MiB), time cost and parallelism: OWASP's Argon2id baseline.
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// Hashing failed (a bug or resource exhaustion; never a wrong password).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The password hasher: at most `concurrency` hashes run at once, each on a blocking thread.
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist so that
    /// timing does not reveal which accounts exist.
    dummy_hash: String,
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within Argon2's accepted ranges.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

fn verify_blocking(password: &[u8], phc: &str) -> bool {
    // The parameters of the stored hash apply, so hashes made under older settings still work.
    PasswordHash::new(phc).is_ok_and(|parsed| argon2().verify_password(password, &parsed).is_ok())
}

impl Passwords {
    /// A hasher allowing `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Self {
        let dummy: [u8; 16] = rand::random();
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: hash_blocking(&dummy).unwrap_or_default(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|e| HashError(e.to_string()))
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.as_bytes().to_vec();
        self.run(move || hash_blocking(&password)).await?
    }

    /// Verifies a password against a stored hash, or against the dummy hash when there is no
    /// account (and then always fails), so both cases cost the same.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        let password = password.as_bytes().to_vec();
        let exists = stored.is_some();
        let phc = stored.unwrap_or(&self.dummy_hash).to_owned();
        let ok = self.run(move || verify_blocking(&password, &phc)).await?;
        Ok(ok && exists)
    }
}
