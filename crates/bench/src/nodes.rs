//! Several server nodes (processes on one database): which node each simulated user talks to,
//! and how many WebSockets each node was given.
//!
//! Users are spread round robin (user `i` on node `i mod n`). With `--cross-node`, each sender
//! of a messaging scenario is then moved, where needed, off its recipient's node, so that every
//! message has to travel between nodes.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::net::{self, Ws};
use crate::report::Report;

/// Why users could not be placed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlacementError {
    #[error("--cross-node needs at least two servers (--server URL1,URL2)")]
    OneNode,
    #[error("user {0} of a pair does not exist")]
    NoSuchUser(usize),
}

/// How users are put on nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// User `i` on node `i mod n`.
    RoundRobin,
    /// Round robin, then no sender on its recipient's node.
    CrossNode,
}

/// The node of user `index` among `nodes` (round robin).
pub fn round_robin(index: usize, nodes: usize) -> usize {
    index % nodes.max(1)
}

/// The node of each of `users` users among `nodes`, given the scenario's (sender, recipient)
/// pairs. Each sender is expected in one pair (as in every scenario); with `CrossNode`, a
/// sender that round robin put on its recipient's node moves to one of the other nodes, in
/// turn, so the moved senders stay spread.
pub fn place(
    users: usize,
    nodes: usize,
    pairs: &[(usize, usize)],
    placement: Placement,
) -> Result<Vec<usize>, PlacementError> {
    let nodes = nodes.max(1);
    let mut placed: Vec<usize> = (0..users).map(|i| round_robin(i, nodes)).collect();
    if placement == Placement::RoundRobin {
        return Ok(placed);
    }
    if nodes < 2 {
        return Err(PlacementError::OneNode);
    }
    let mut moved = 0;
    for &(sender, recipient) in pairs {
        let to = *placed
            .get(recipient)
            .ok_or(PlacementError::NoSuchUser(recipient))?;
        let from = placed
            .get_mut(sender)
            .ok_or(PlacementError::NoSuchUser(sender))?;
        if *from == to {
            *from = (to + 1 + moved % (nodes - 1)) % nodes;
            moved += 1;
        }
    }
    Ok(placed)
}

/// One server node.
#[derive(Debug)]
pub struct Node {
    /// Its base URL (`http://127.0.0.1:8080`).
    pub base: String,
    pub addr: SocketAddr,
    /// WebSockets opened to it.
    connections: AtomicU64,
}

/// The nodes of a run, in the order given.
#[derive(Debug)]
pub struct Nodes {
    list: Vec<Node>,
    pub placement: Placement,
}

impl Nodes {
    /// The nodes at `urls` (each `http://127.x.x.x:PORT`, loopback only).
    pub fn parse(urls: &[String], placement: Placement) -> anyhow::Result<Self> {
        let list = urls
            .iter()
            .map(|url| {
                Ok(Node {
                    base: url.trim_end_matches('/').to_owned(),
                    addr: net::server_addr(url)?,
                    connections: AtomicU64::new(0),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!list.is_empty(), "give at least one --server");
        if placement == Placement::CrossNode && list.len() < 2 {
            return Err(PlacementError::OneNode.into());
        }
        Ok(Self { list, placement })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Node `index` (taken modulo the number of nodes).
    pub fn get(&self, index: usize) -> &Node {
        &self.list[round_robin(index, self.list.len())]
    }

    /// The base URL of node `index`.
    pub fn base(&self, index: usize) -> &str {
        &self.get(index).base
    }

    /// Places `users` users for a scenario with these (sender, recipient) pairs.
    pub fn place(
        &self,
        users: usize,
        pairs: &[(usize, usize)],
    ) -> Result<Vec<usize>, PlacementError> {
        place(users, self.list.len(), pairs, self.placement)
    }

    /// Opens an authenticated WebSocket to node `index` from `src`, and counts it.
    pub async fn ws_connect(
        &self,
        index: usize,
        src: IpAddr,
        token: &str,
        since: u64,
    ) -> anyhow::Result<Ws> {
        let node = self.get(index);
        let ws = net::ws_connect(node.addr, src, token, since).await?;
        node.connections.fetch_add(1, Ordering::Relaxed);
        Ok(ws)
    }

    /// With several nodes: the WebSockets each was given, and how users were placed.
    pub fn account(&self, report: &mut Report) {
        if self.list.len() < 2 {
            return;
        }
        report.note(format!(
            "{} servers, users spread round robin{}",
            self.list.len(),
            match self.placement {
                Placement::RoundRobin => "",
                Placement::CrossNode => ", every sender on another node than its recipient",
            }
        ));
        for (i, node) in self.list.iter().enumerate() {
            report.note(format!("node {} = {}", i + 1, node.base));
            report.count(
                &format!("connections node {}", i + 1),
                node.connections.load(Ordering::Relaxed) as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_spreads_users_evenly() {
        let placed = place(7, 3, &[], Placement::RoundRobin).expect("placed");
        assert_eq!(placed, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(
            place(4, 1, &[(1, 0)], Placement::RoundRobin).expect("placed"),
            [0, 0, 0, 0],
            "one server: everyone on it, as before"
        );
    }

    #[test]
    fn cross_node_moves_every_sender_off_its_recipients_node() {
        // burst: senders 1..=6 to user 0.
        let pairs: Vec<(usize, usize)> = (1..=6).map(|s| (s, 0)).collect();
        for nodes in 2..=4 {
            let placed = place(7, nodes, &pairs, Placement::CrossNode).expect("placed");
            for &(s, r) in &pairs {
                assert_ne!(placed[s], placed[r], "{nodes} nodes: {placed:?}");
            }
            // The senders stay spread over the other nodes.
            let mut used: Vec<usize> = pairs.iter().map(|&(s, _)| placed[s]).collect();
            used.sort_unstable();
            used.dedup();
            assert_eq!(used.len(), nodes - 1, "{nodes} nodes: {placed:?}");
        }
        // sustained: pairs (0,1), (2,3), …: round robin already splits them; nothing moves.
        let pairs: Vec<(usize, usize)> = (0..5).map(|p| (2 * p, 2 * p + 1)).collect();
        for nodes in 2..=3 {
            let placed = place(10, nodes, &pairs, Placement::CrossNode).expect("placed");
            assert_eq!(
                placed,
                place(10, nodes, &pairs, Placement::RoundRobin).expect("rr")
            );
            assert!(pairs.iter().all(|&(s, r)| placed[s] != placed[r]));
        }
    }

    #[test]
    fn cross_node_needs_two_nodes_and_real_users() {
        assert_eq!(
            place(2, 1, &[(1, 0)], Placement::CrossNode),
            Err(PlacementError::OneNode)
        );
        assert_eq!(
            place(2, 2, &[(5, 0)], Placement::CrossNode),
            Err(PlacementError::NoSuchUser(5))
        );
    }

    #[test]
    fn nodes_parse_and_count_loopback_servers_only() {
        let urls = vec![
            "http://127.0.0.1:8080/".to_owned(),
            "http://127.0.0.1:8081".to_owned(),
        ];
        let nodes = Nodes::parse(&urls, Placement::CrossNode).expect("nodes");
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes.base(0), "http://127.0.0.1:8080");
        assert_eq!(nodes.base(3), "http://127.0.0.1:8081");
        assert!(Nodes::parse(&urls[..1], Placement::CrossNode).is_err());
        assert!(Nodes::parse(&["http://10.0.0.1:80".to_owned()], Placement::RoundRobin).is_err());
    }
}
