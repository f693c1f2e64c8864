//! How things are shown: one line per event (`[2026-11-25 14:03:12] alice: hello`) or one JSON
//! object per line, plus the small formatting helpers (times, sizes, tables). Text that came
//! from other users is stripped of control characters before it reaches the terminal.

use std::fmt::Write as _;

use chrono::{Local, TimeZone as _};

use securechat_proto::ids::UserId;

use super::events::{Item, MessageItem};

/// Where and how items are printed.
pub struct Printer {
    /// One JSON object per line.
    pub json: bool,
    /// Print to standard error (events seen while sending) instead of standard output.
    pub stderr: bool,
    /// Show message ids on text lines.
    pub ids: bool,
    /// Name the recipient of my own messages (`alice → bob:`), for mixed streams: who I am.
    pub arrows_for: Option<UserId>,
    /// The `--profile` option to repeat in the download hint.
    pub profile_flag: String,
}

impl Printer {
    fn out(&self, line: &str) {
        if self.stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// Prints one item.
    pub fn print(&self, item: &Item) {
        if self.json {
            match serde_json::to_string(item) {
                Ok(line) => self.out(&line),
                Err(e) => eprintln!("warning: cannot encode an event as JSON: {e}"),
            }
            return;
        }
        match item {
            Item::Message(m) | Item::File(m) => self.out(&self.message_text(m)),
            Item::GroupChanged(g) => {
                let name = g.group.as_ref().map_or_else(String::new, |g| {
                    g.name.clone().unwrap_or_else(|| g.id.to_string())
                });
                self.out(&format!(
                    "* the membership of group {} changed: {}",
                    clean(&name),
                    clean(&g.change)
                ));
            }
            Item::GroupNamed(g) => self.out(&format!(
                "* {} named the group {} “{}”",
                clean(&g.from_username),
                g.group,
                clean(&g.name)
            )),
            Item::Deleted(d) => {
                let line = match (d.reason, d.verified) {
                    ("expired", _) => format!("* message {} expired", clean(&d.msg_id)),
                    (_, Some(false)) => format!(
                        "* {} deleted message {} (the deletion could not be verified)",
                        clean(&d.from_username),
                        clean(&d.msg_id)
                    ),
                    _ => format!(
                        "* {} deleted message {}",
                        clean(&d.from_username),
                        clean(&d.msg_id)
                    ),
                };
                self.out(&line);
            }
            Item::Read(r) => {
                let line = if let Some(group) = &r.group {
                    let name = group.name.clone().unwrap_or_else(|| group.id.to_string());
                    format!(
                        "* {} read the messages of group {} up to {}",
                        clean(&r.by_username),
                        clean(&name),
                        time(r.up_to)
                    )
                } else if r.by == r.peer {
                    format!(
                        "* {} read your messages up to {}",
                        clean(&r.peer_username),
                        time(r.up_to)
                    )
                } else {
                    format!(
                        "* you read {}'s messages up to {} (on another device)",
                        clean(&r.peer_username),
                        time(r.up_to)
                    )
                };
                self.out(&line);
            }
            Item::Presence(p) => {
                for change in &p.changes {
                    self.out(&format!(
                        "* {} is {}",
                        clean(&change.username),
                        if change.online { "online" } else { "offline" }
                    ));
                }
            }
            Item::Invalid(i) => {
                if i.identity_changed {
                    eprintln!(
                        "! SECURITY WARNING: message {} claims to come from {} but is signed \
                         with a different identity key than the one you saw before; it was not \
                         opened. Check with them over another channel.",
                        i.seq,
                        clean(&i.from_username)
                    );
                } else {
                    eprintln!(
                        "! could not open message {} from {}: {}",
                        i.seq,
                        clean(&i.from_username),
                        i.error
                    );
                }
            }
            Item::CaughtUp { .. } => {}
        }
    }

    fn message_text(&self, m: &MessageItem) -> String {
        let mut line = format!("[{}] ", time(m.ts));
        if let Some(group) = &m.group {
            let name = group.name.clone().unwrap_or_else(|| group.id.to_string());
            let _ = write!(line, "[{}] ", clean(&name));
        }
        line.push_str(&clean(&m.from_username));
        if m.group.is_none() && self.arrows_for == Some(m.from) && m.from != m.to {
            let _ = write!(line, " → {}", clean(&m.to_username));
        }
        line.push_str(": ");
        if m.hidden {
            line.push_str("(hidden) ");
        }
        if let Some(file) = &m.file {
            let _ = write!(
                line,
                "[file] {} ({}, {})",
                clean(&file.name),
                size(file.size),
                clean(&file.mime)
            );
            if !m.text.is_empty() {
                let _ = write!(line, " {}", indent(&clean_text(&m.text)));
            }
        } else {
            line.push_str(&indent(&clean_text(&m.text)));
        }
        if let Some(at) = m.expires_at {
            let _ = write!(line, " (expires {})", time(at));
        }
        if self.ids {
            let _ = write!(line, "  [{}]", m.msg_id);
        }
        if let Some(file) = &m.file {
            let _ = write!(
                line,
                "\n    download: securechat download{} {} --out {}",
                self.profile_flag,
                m.msg_id,
                safe_file_name(&file.name)
            );
        }
        line
    }
}

/// A Unix-ms time as local `YYYY-MM-DD HH:MM:SS`.
pub fn time(ms: i64) -> String {
    match Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => format!("@{ms}"),
    }
}

/// A byte count for people.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    // Precision is irrelevant for display.
    let value = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if value < KIB * KIB {
        format!("{:.1} KiB", value / KIB)
    } else if value < KIB * KIB * KIB {
        format!("{:.1} MiB", value / (KIB * KIB))
    } else {
        format!("{:.1} GiB", value / (KIB * KIB * KIB))
    }
}

/// One-line text from someone else: control characters (terminal escapes, newlines) are
/// replaced.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Message text: newlines and tabs are kept, other control characters replaced.
fn clean_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Indents the continuation lines of a multi-line message.
fn indent(text: &str) -> String {
    text.trim_end_matches('\n').replace('\n', "\n    ")
}

/// A file name safe to suggest on a command line: no folders, no leading dot, only
/// `[A-Za-z0-9._-]`.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut safe: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while safe.starts_with('.') || safe.starts_with('-') {
        safe.remove(0);
    }
    if safe.is_empty() {
        "download".to_owned()
    } else {
        safe
    }
}

/// Left-aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = width - cell.chars().count();
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> MessageItem {
        MessageItem {
            seq: 3,
            msg_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            from: UserId::generate(),
            from_username: "alice".into(),
            to: UserId::generate(),
            to_username: "bob".into(),
            ts: 0,
            text: text.into(),
            hidden: false,
            expires_at: None,
            file: None,
            group: None,
        }
    }

    fn printer() -> Printer {
        Printer {
            json: false,
            stderr: false,
            ids: false,
            arrows_for: None,
            profile_flag: String::new(),
        }
    }

    #[test]
    fn message_lines_look_like_a_chat_log_and_hide_escapes() {
        let line = printer().message_text(&message("hello\u{1b}[2J"));
        assert!(line.starts_with('['), "{line}");
        assert!(line.ends_with("] alice: hello\u{fffd}[2J"), "{line}");
        let mut hidden = message("psst");
        hidden.hidden = true;
        assert!(printer()
            .message_text(&hidden)
            .ends_with("alice: (hidden) psst"));
    }

    #[test]
    fn suggested_file_names_stay_in_the_current_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("my report (1).pdf"), "my_report__1_.pdf");
        assert_eq!(safe_file_name(""), "download");
    }

    #[test]
    fn sizes_and_tables() {
        assert_eq!(size(10), "10 B");
        assert_eq!(size(300 * 1024), "300.0 KiB");
        let text = table(
            &["USERNAME", "ONLINE"],
            &[vec!["alice".into(), "yes".into()]],
        );
        assert_eq!(text, "USERNAME  ONLINE\nalice     yes\n");
    }
}
