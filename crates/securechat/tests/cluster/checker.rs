//! The history checker: every acknowledged message reached every session of its recipient
//! exactly once, each sender's messages in the order sent, and no stream skipped or repeated
//! a `seq`.

use std::collections::HashMap;

use super::clients::Record;

/// A sent message: who sent it, and its place in their sending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sent {
    pub sender: usize,
    pub index: usize,
}

/// What the checker found, for one run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub acknowledged: usize,
    /// Deliveries counted over every recipient session.
    pub delivered: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub out_of_order: usize,
    pub stream_breaks: usize,
}

impl std::fmt::Display for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "acknowledged {}, delivered {} (over every recipient session), lost {}, \
             duplicated {}, out of order {}, stream breaks {}",
            self.acknowledged,
            self.delivered,
            self.lost,
            self.duplicated,
            self.out_of_order,
            self.stream_breaks
        )
    }
}

/// Checks the sessions of one recipient. `sent` maps an envelope signature to the message;
/// `acked` holds the acknowledged messages meant for this recipient.
pub fn check(
    sessions: &[&Record],
    sent: &HashMap<String, Sent>,
    acked: &[Sent],
    history: &mut History,
) {
    for record in sessions {
        history.stream_breaks += record.anomalies.len();
        let mut seen: HashMap<Sent, usize> = HashMap::new();
        let mut last_index: HashMap<usize, usize> = HashMap::new();
        for (_, sig) in &record.messages {
            let Some(message) = sent.get(sig) else {
                continue;
            };
            *seen.entry(*message).or_default() += 1;
            if let Some(previous) = last_index.insert(message.sender, message.index) {
                if message.index <= previous {
                    history.out_of_order += 1;
                }
            }
        }
        for message in acked {
            match seen.get(message).copied().unwrap_or(0) {
                0 => history.lost += 1,
                1 => history.delivered += 1,
                n => {
                    history.delivered += 1;
                    history.duplicated += n - 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_counts_losses_repeats_and_disorder() {
        let a = |index| Sent { sender: 0, index };
        let sent: HashMap<String, Sent> = (0..4).map(|i| (format!("sig{i}"), a(i))).collect();
        let record = Record {
            messages: vec![
                (1, "sig0".into()),
                (2, "sig2".into()),
                (3, "sig1".into()),
                (4, "sig2".into()),
            ],
            anomalies: vec![(4, 6)],
            ..Record::default()
        };
        let mut history = History::default();
        check(&[&record], &sent, &[a(0), a(1), a(2), a(3)], &mut history);
        assert_eq!(history.delivered, 3);
        assert_eq!(history.lost, 1, "sig3 never came");
        assert_eq!(history.duplicated, 1, "sig2 came twice");
        assert_eq!(history.out_of_order, 1, "sig1 after sig2");
        assert_eq!(history.stream_breaks, 1);
    }
}
