//! Argon2id password hashing at OWASP parameters, on a small pool of dedicated threads.
//!
//! Each thread owns one reusable 19 MiB work area, so however many logins arrive at once the
//! hashing memory is `concurrency × 19 MiB`, allocated once: no allocator churn, no arenas
//! retaining freed work areas, and no async thread ever blocks on a hash.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Memory cost in KiB (19 MiB), time cost and parallelism: OWASP's Argon2id baseline.
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;
/// Hash output length in bytes.
const OUTPUT_LEN: usize = 32;

/// Hashing failed (a bug or resource exhaustion; never a wrong password).
#[derive(Debug, Clone, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The parameters new hashes use, checked when the server is compiled: constants outside
/// Argon2's accepted ranges fail the build instead of falling back to other values.
const PARAMS: Params = match Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)) {
    Ok(params) => params,
    Err(_) => panic!("the Argon2 parameters are outside Argon2's accepted ranges"),
};

/// One hashing thread's state: its reusable work area.
struct Worker {
    memory: Vec<Block>,
}

impl Worker {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.memory.len() < needed {
            self.memory.resize(needed, Block::default());
        }
        &mut self.memory[..needed]
    }

    /// A PHC string for a new password.
    fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let params = PARAMS;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt
            .as_salt()
            .decode_b64(&mut salt_buf)
            .map_err(|e| HashError(e.to_string()))?;
        let mut out = [0u8; OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password, salt_bytes, &mut out, self.blocks(&params))
            .map_err(|e| HashError(e.to_string()))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| HashError(e.to_string()))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| HashError(e.to_string()))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches a stored PHC string. The stored hash's own parameters
    /// apply, so hashes made under older settings still verify.
    fn verify(&mut self, password: &[u8], phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
            parsed.hash,
            parsed.salt,
        ) else {
            return false;
        };
        let Ok(version) = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
        else {
            return false;
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        let computed = Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password, salt_bytes, &mut out, self.blocks(&params));
        // `Output` compares in constant time.
        computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
    }
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The password hasher: `concurrency` threads, each hashing one password at a time.
pub struct Passwords {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// A hash of a random password, verified against when the account does not exist so that
    /// timing does not reveal which accounts exist. If it could not be made, logins of
    /// unknown accounts fail loudly (500) rather than answer faster than real ones.
    dummy_hash: Result<String, HashError>,
}

impl Passwords {
    /// A hasher with `concurrency` threads.
    pub fn new(concurrency: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..concurrency.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut worker = Worker { memory: Vec::new() };
                    loop {
                        let job = {
                            let rx = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            rx.recv()
                        };
                        // The channel closes when the hasher is dropped.
                        let Ok(job) = job else { break };
                        job(&mut worker);
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        let dummy: [u8; 16] = rand::random();
        let dummy_hash = Worker { memory: Vec::new() }.hash(&dummy);
        if let Err(e) = &dummy_hash {
            tracing::error!(error = %e, "could not make the dummy password hash; logins of unknown accounts will fail");
        }
        Self {
            jobs: Mutex::new(tx),
            dummy_hash,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |worker| {
            let _ = reply.send(span.in_scope(|| work(worker)));
        });
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .map_err(|_| HashError("the hashing threads have stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| HashError("a hashing thread failed".to_owned()))
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.as_bytes().to_vec();
        self.run(move |w| w.hash(&password)).await?
    }

    /// Verifies a password against a stored hash, or against the dummy hash when there is no
    /// account (and then always fails), so both cases cost the same.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        let password = password.as_bytes().to_vec();
        let exists = stored.is_some();
        let phc = match stored {
            Some(phc) => phc.to_owned(),
            None => self
                .dummy_hash
                .as_ref()
                .map_err(|e| HashError(format!("no dummy hash to compare with: {e}")))?
                .clone(),
        };
        let ok = self.run(move |w| w.verify(&password, &phc)).await?;
        Ok(ok && exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_old_parameters_still_work() {
        let passwords = Passwords::new(1);
        let phc = passwords.hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords
            .verify("correct horse battery", Some(&phc))
            .await
            .unwrap());
        assert!(!passwords
            .verify("wrong horse battery", Some(&phc))
            .await
            .unwrap());
        assert!(!passwords
            .verify("correct horse battery", None)
            .await
            .unwrap());
        assert!(!passwords
            .verify("x", Some("not a phc string"))
            .await
            .unwrap());

        // A hash made by the argon2 crate's own API with other parameters verifies here.
        use argon2::password_hash::PasswordHasher as _;
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(
            b"legacy password",
            &SaltString::generate(&mut rand::rngs::OsRng),
        )
        .unwrap()
        .to_string();
        assert!(passwords
            .verify("legacy password", Some(&other))
            .await
            .unwrap());
    }
}
