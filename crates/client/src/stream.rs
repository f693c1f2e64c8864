//! Following a user's event stream without ever skipping an event.
//!
//! Each user's stream is numbered by a gap-free `seq`. The replay after connecting may leave
//! numbers out (expired and removed entries are not replayed) and ends with `caught_up`, which
//! says where the stream stands. After that, live events must come one number after another:
//! with several server nodes, an event can reach a connection late or not at all (the node that
//! stored it announces it to the others), so a live event whose `seq` is beyond the next one
//! means one was missed. The client must then not take it, but reconnect resuming from the last
//! contiguous `seq` it holds: the server replays the missing events.

use securechat_proto::ws::ServerEvent;

/// Where a live event stands against the last contiguous `seq` held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The next one: take it.
    Next,
    /// Already held (a repeat): harmless.
    Held,
    /// Events `held + 1 ..= got - 1` were missed: resume from `held`.
    Gap { held: u64, got: u64 },
}

/// Where live event `seq` stands when the client holds everything up to `held`.
pub fn step(held: u64, seq: u64) -> Step {
    if seq <= held {
        Step::Held
    } else if seq == held + 1 {
        Step::Next
    } else {
        Step::Gap { held, got: seq }
    }
}

/// The place in the user's stream an event occupies, if it is a stream event: messages,
/// removals and stored read receipts, and the `ack` of my own message (the connection that sent
/// it gets the ack in place of the message).
pub fn stream_seq(event: &ServerEvent) -> Option<u64> {
    match event {
        ServerEvent::Message { seq, .. }
        | ServerEvent::Deleted { seq, .. }
        | ServerEvent::Ack { seq, .. } => Some(*seq),
        ServerEvent::Read { seq, .. } => *seq,
        ServerEvent::Ready { .. }
        | ServerEvent::Presence { .. }
        | ServerEvent::CaughtUp { .. }
        | ServerEvent::Group { .. }
        | ServerEvent::Error { .. }
        | ServerEvent::Pong => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use securechat_proto::ids::UserId;

    #[test]
    fn the_next_seq_is_taken_repeats_are_harmless_and_a_jump_is_a_gap() {
        assert_eq!(step(0, 1), Step::Next);
        assert_eq!(step(41, 42), Step::Next);
        assert_eq!(step(42, 42), Step::Held);
        assert_eq!(step(42, 7), Step::Held);
        assert_eq!(step(42, 44), Step::Gap { held: 42, got: 44 });
        assert_eq!(step(0, 2), Step::Gap { held: 0, got: 2 });
        assert_eq!(
            step(u64::MAX - 1, u64::MAX),
            Step::Next,
            "no overflow at the end"
        );
        assert_eq!(step(u64::MAX, u64::MAX), Step::Held);
    }

    #[test]
    fn only_stream_events_have_a_place() {
        let peer = UserId(uuid::Uuid::nil());
        let read = |seq| ServerEvent::Read {
            peer,
            by: peer,
            up_to: 5,
            seq,
            group: None,
        };
        assert_eq!(stream_seq(&read(Some(9))), Some(9));
        assert_eq!(stream_seq(&read(None)), None, "my own receipt elsewhere");
        let ack = ServerEvent::Ack {
            msg_id: "m".into(),
            seq: 3,
            ts: 1,
        };
        assert_eq!(stream_seq(&ack), Some(3));
        assert_eq!(stream_seq(&ServerEvent::CaughtUp { seq: 8 }), None);
        assert_eq!(stream_seq(&ServerEvent::Pong), None);
    }
}
