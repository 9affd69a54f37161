//! `vigil import`: bulk loads of public data files into the operational store.

mod toronto;

use std::collections::BTreeMap;

use crate::ingest::taxonomy::Unmapped;

pub use toronto::{FEED as TORONTO_FEED, TorontoMci, file_url, import_toronto_mci};

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows read (the header is not counted).
    pub read: u64,
    /// Rows stored as new incidents.
    pub imported: u64,
    /// Rows already stored by an earlier import.
    pub duplicate: u64,
    /// Rows not stored, by reason, with the first row number that had it.
    pub rejected: BTreeMap<String, (u64, u64)>,
    /// Stored rows whose category the taxonomy did not know (stored as `other`).
    pub unmapped: Unmapped,
}

impl ImportSummary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().map(|(n, _)| n).sum()
    }

    fn reject(&mut self, row: u64, reason: String) {
        self.rejected.entry(reason).or_insert((0, row)).0 += 1;
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "read:      {}", self.read)?;
        writeln!(f, "imported:  {}", self.imported)?;
        writeln!(f, "duplicate: {}", self.duplicate)?;
        writeln!(f, "rejected:  {}", self.rejected_total())?;
        for (reason, (n, first)) in &self.rejected {
            writeln!(f, "  {n:>8} × {reason} (first at row {first})")?;
        }
        if self.unmapped.total() > 0 {
            writeln!(f, "unmapped:  {} (stored as other)", self.unmapped.total())?;
            for (_, label, n) in self.unmapped.by_count() {
                writeln!(f, "  {n:>8} × {label:?}")?;
            }
        }
        Ok(())
    }
}
