//! Reading secrets: from standard input (`--password-stdin`, for scripts), from an
//! environment variable, or typed at the terminal without echo.

use std::io::BufRead as _;

use anyhow::bail;
use zeroize::Zeroizing;

/// What is asked for, and how.
pub struct Secret {
    /// "password" or "passphrase".
    pub what: &'static str,
    /// The command-line flag that reads it from standard input.
    pub flag: &'static str,
    /// The environment variable that may hold it.
    pub env: &'static str,
}

pub const PASSWORD: Secret = Secret {
    what: "password",
    flag: "--password-stdin",
    env: "SECURECHAT_PASSWORD",
};

pub const PASSPHRASE: Secret = Secret {
    what: "key file passphrase",
    flag: "--passphrase-stdin",
    env: "SECURECHAT_KEY_PASSPHRASE",
};

impl Secret {
    /// Reads the secret; `confirm` asks twice at the terminal (new passwords).
    pub fn read(&self, from_stdin: bool, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
        if from_stdin {
            return self.read_stdin();
        }
        if let Ok(value) = std::env::var(self.env) {
            if !value.is_empty() {
                return Ok(Zeroizing::new(value));
            }
        }
        let first = self.prompt(&format!("{}: ", capitalised(self.what)))?;
        if confirm {
            let again = self.prompt(&format!("Repeat the {}: ", self.what))?;
            if *first != *again {
                bail!("the two {}s differ", self.what);
            }
        }
        if first.is_empty() {
            bail!("no {} given", self.what);
        }
        Ok(first)
    }

    fn read_stdin(&self) -> anyhow::Result<Zeroizing<String>> {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            anyhow::anyhow!("cannot read the {} from standard input: {e}", self.what)
        })?;
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed.is_empty() {
            bail!("no {} on standard input", self.what);
        }
        Ok(Zeroizing::new(trimmed.to_owned()))
    }

    fn prompt(&self, label: &str) -> anyhow::Result<Zeroizing<String>> {
        rpassword::prompt_password(label)
            .map(Zeroizing::new)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot prompt for the {} ({e}): use {} or set {}",
                    self.what,
                    self.flag,
                    self.env
                )
            })
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
