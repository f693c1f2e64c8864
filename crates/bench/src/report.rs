//! What a scenario reports: notes, the table, counters, server usage and an optional plot.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::procinfo::Phase;
use crate::stats::{table, Summary};

/// A scenario's result.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    /// How the run was set up and what it means (printed first).
    pub notes: Vec<String>,
    pub rows: Vec<Summary>,
    /// Counts that must add up (sent, delivered, lost, …) and derived figures.
    pub counts: BTreeMap<String, f64>,
    /// Server resource use over the measured phase (with --server-pid).
    pub server: Option<Phase>,
    /// Extra per-step data (e.g. connections ramp).
    pub steps: Vec<serde_json::Value>,
    #[serde(skip)]
    pub plot: Option<String>,
}

impl Report {
    pub fn new(scenario: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            ..Self::default()
        }
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn count(&mut self, name: &str, value: f64) {
        self.counts.insert(name.to_owned(), value);
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = format!("== {}\n", self.scenario);
        for note in &self.notes {
            out.push_str(&format!("- {note}\n"));
        }
        if !self.rows.is_empty() {
            out.push_str(&table(&self.rows));
        }
        for (name, value) in &self.counts {
            out.push_str(&format!("{name:<32} {value}\n"));
        }
        if let Some(s) = &self.server {
            let who = if s.processes > 1 {
                format!("servers ({} processes, summed)", s.processes)
            } else {
                "server".to_owned()
            };
            out.push_str(&format!(
                "{who}: RSS {} → {} KiB (peak {} KiB), CPU {:.2} cores\n",
                s.rss_before_kib, s.rss_after_kib, s.rss_peak_kib, s.cpu_cores
            ));
        }
        out
    }
}
