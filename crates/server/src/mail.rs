//! Password-reset mail over SMTP, when an operator configured it (`--smtp-url`). Nothing else
//! is ever mailed.

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

/// Why mail could not be set up or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    Url(#[source] lettre::transport::smtp::Error),
    #[error("invalid sender address {0:?} (expected \"Name <chat@example.org>\" or an address)")]
    From(String),
    #[error("invalid recipient address: {0}")]
    To(#[source] lettre::address::AddressError),
    #[error("the message could not be built: {0}")]
    Build(#[source] lettre::error::Error),
    #[error("the SMTP server did not take the message: {0}")]
    Send(#[source] lettre::transport::smtp::Error),
}

/// An SMTP relay and the sender address, ready to send.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The relay without credentials, for logs.
    relay: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// `smtp_url`: `smtps://USER:PASSWORD@HOST:465`, `smtp://HOST:587?tls=required` or
    /// `smtp://HOST:25` (plain, for a relay on the same machine); `from`: the sender.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(MailError::Url)?
            .build();
        let from: Mailbox = from.parse().map_err(|_| MailError::From(from.to_owned()))?;
        let relay = match smtp_url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://{host}")
            }
            None => "?".to_owned(),
        };
        Ok(Self {
            transport,
            from,
            relay,
        })
    }

    /// Where mail goes, without credentials.
    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// Sends the reset link for `username` to `email`.
    pub async fn send_reset(
        &self,
        email: &str,
        username: &str,
        link: &str,
        server: &str,
    ) -> Result<(), MailError> {
        let to: Mailbox = Mailbox::new(None, email.parse().map_err(MailError::To)?);
        // Short lines of plain ASCII: sent as 7bit, so the link reads (and clicks) as is.
        let body = format!(
            "Someone (we hope you) asked to reset the password of the\n\
             securechat account \"{username}\" at {server}.\n\n\
             To choose a new password, open this link within the next hour:\n\n\
             {link}\n\n\
             Your keys do not change: to read your history on a new device\n\
             you still need your key file.\n\n\
             If you did not ask for this, ignore this email: your password\n\
             stays as it is.\n"
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Reset your securechat password")
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(MailError::Build)?;
        self.transport
            .send(message)
            .await
            .map_err(MailError::Send)?;
        Ok(())
    }
}
