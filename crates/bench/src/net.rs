//! Loopback source addresses and connections from them: every simulated user gets its own
//! 127.x.y.z, so the server's IP rule sees distinct clients and no source runs out of ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use securechat_proto::ws::{ClientFrame, ServerEvent};

/// The `index`-th source address: 127.A.B.C with B, C in 1..=250 (never .0 or .255).
pub fn source(index: usize) -> IpAddr {
    let c = index % 250 + 1;
    let b = (index / 250) % 250 + 1;
    let a = 1 + index / 62_500;
    // At most 16 M sources exist in 127/8; the tool never asks for that many.
    IpAddr::V4(Ipv4Addr::new(127, (a % 255) as u8, b as u8, c as u8))
}

/// An HTTP client whose connections leave from `src`.
pub fn http_client(src: IpAddr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(src)
        .pool_max_idle_per_host(2)
        .build()?)
}

/// The server's socket address from its base URL (`http://127.0.0.1:8080`).
pub fn server_addr(base: &str) -> anyhow::Result<SocketAddr> {
    let host = base
        .strip_prefix("http://")
        .context("the load tool speaks plain HTTP to a loopback server: use http://127.x.x.x:PORT")?
        .trim_end_matches('/');
    let addr: SocketAddr = host
        .parse()
        .context("the server must be given as IP:PORT")?;
    if !addr.ip().is_loopback() {
        bail!("load tests target loopback only (got {addr})");
    }
    Ok(addr)
}

pub type Ws = WebSocketStream<TcpStream>;

/// Opens a WebSocket from `src` and authenticates; returns once the server said `ready`.
pub async fn ws_connect(
    server: SocketAddr,
    src: IpAddr,
    token: &str,
    since: u64,
) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(src, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}/api/v1/ws");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
    let auth = ClientFrame::Auth {
        token: token.to_owned(),
        since: Some(since),
        protocol: Some(securechat_proto::ws::Protocol::CURRENT.number()),
    };
    ws.send(Message::text(serde_json::to_string(&auth)?))
        .await?;
    match next_event(&mut ws).await? {
        Some(ServerEvent::Ready { .. }) => Ok(ws),
        Some(other) => bail!("expected ready, got {other:?}"),
        None => bail!("the server closed the connection during auth"),
    }
}

/// The next server event (control frames skipped); `None` when closed.
pub async fn next_event(ws: &mut Ws) -> anyhow::Result<Option<ServerEvent>> {
    loop {
        match ws.next().await {
            None => return Ok(None),
            Some(Ok(Message::Text(text))) => return Ok(Some(serde_json::from_str(text.as_str())?)),
            Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Reads events until `caught_up`.
pub async fn until_caught_up(ws: &mut Ws) -> anyhow::Result<()> {
    loop {
        match next_event(ws).await? {
            Some(ServerEvent::CaughtUp { .. }) => return Ok(()),
            Some(_) => {}
            None => bail!("closed before caught_up"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_distinct_loopback_addresses() {
        let all: std::collections::HashSet<IpAddr> = (0..70_000).map(source).collect();
        assert_eq!(all.len(), 70_000);
        assert!(all.iter().all(IpAddr::is_loopback));
    }
}
