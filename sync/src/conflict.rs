//! Conflict rules between a device's copy of a report and the server's, as pure functions
//! so the app, the backend and the tests agree on them.
//!
//! - The reporter may edit a report until moderation has looked at it (while it is
//!   `unverified`).
//! - The server's status always wins over what the device last saw.
//! - An edit that reaches the server after moderation is not applied and not dropped: it
//!   is kept as a revision for the moderators.
//! - A cached incident only moves forward: a version older than (or equal to) the one the
//!   device holds changes nothing, so a page applied twice is harmless.

use crate::Status;

/// Whether the reporter may still change a report whose server status is `status`.
pub fn reporter_may_edit(status: Status) -> bool {
    status == Status::Unverified
}

/// What the server does with a reporter's edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditDecision {
    /// The report is still open to its reporter: the edit becomes the next version.
    Apply,
    /// Moderation got there first: the edit is stored beside the report as a revision for
    /// the moderators, and the report itself is unchanged.
    KeepAsRevision,
}

/// Decides an edit that arrives while the report's status on the server is `server`.
pub fn decide_edit(server: Status) -> EditDecision {
    if reporter_may_edit(server) {
        EditDecision::Apply
    } else {
        EditDecision::KeepAsRevision
    }
}

/// The status a device shows after a sync: the server's, whatever the device had.
pub fn status_after_sync(_device: Status, server: Status) -> Status {
    server
}

/// Whether a cached copy at `held` (none if the device has no copy) should take version
/// `incoming` from the server.
pub fn takes_version(held: Option<u32>, incoming: u32) -> bool {
    held.is_none_or(|v| incoming > v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn edits_apply_only_before_moderation() {
        let table = [
            (Unverified, EditDecision::Apply),
            (Verified, EditDecision::KeepAsRevision),
            (Resolved, EditDecision::KeepAsRevision),
            (Rejected, EditDecision::KeepAsRevision),
        ];
        for (server, expected) in table {
            assert_eq!(decide_edit(server), expected, "server status {server:?}");
            assert_eq!(reporter_may_edit(server), expected == EditDecision::Apply);
        }
    }

    #[test]
    fn the_server_status_wins() {
        let all = [Unverified, Verified, Resolved, Rejected];
        for device in all {
            for server in all {
                assert_eq!(status_after_sync(device, server), server);
            }
        }
    }

    #[test]
    fn cached_copies_only_move_forward() {
        let table = [
            (None, 1, true),
            (Some(1), 2, true),
            (Some(2), 2, false),
            (Some(3), 2, false),
        ];
        for (held, incoming, expected) in table {
            assert_eq!(
                takes_version(held, incoming),
                expected,
                "{held:?} <- {incoming}"
            );
        }
    }
}
