//! Every text the UI shows, in one place, ready for translation.

pub const TAGLINE: &str = "Neighbourhood safety reports";
pub const LOADING: &str = "Loading…";
pub const NAV_REPORT: &str = "Report";
pub const NAV_OUTBOX: &str = "Outbox";
pub const NAV_INCIDENTS: &str = "Incidents";
pub const NAV_AREAS: &str = "Watch areas";
pub const NAV_GROUPS: &str = "Groups";
pub const NAV_SETTINGS: &str = "Settings";
pub const NAV_ABOUT: &str = "About";

pub const REPORT_TITLE: &str = "What happened?";
pub const FIELD_CATEGORY: &str = "Category";
pub const PICK_CATEGORY: &str = "Pick a category";
pub const FIELD_WHEN: &str = "When";
pub const FIELD_LAT: &str = "Latitude";
pub const FIELD_LON: &str = "Longitude";
pub const FIELD_PLACE: &str = "Place (optional)";
pub const FIELD_DESCRIPTION: &str = "In your own words";
pub const SUBMIT: &str = "Submit";
pub const DRAFT_SAVED: &str = "Draft saved.";
pub const QUEUED: &str = "Queued: it is sent as soon as the server can be reached.";

pub const DRAFTS_TITLE: &str = "Drafts on this device";
pub const NO_CATEGORY: &str = "(no category yet)";

pub fn refused(field: &str, reason: &str) -> String {
    format!("Refused by the server: {field}: {reason}")
}

pub const OUTBOX_TITLE: &str = "Outbox";
pub const OUTBOX_EMPTY: &str = "Nothing submitted yet.";
pub const SYNC_NOW: &str = "Sync now";
pub const SENT: &str = "Sent";
pub const NOT_SENT: &str = "Not sent yet";

pub const INCIDENTS_TITLE: &str = "Incidents";
pub const INCIDENTS_EMPTY: &str = "No incidents yet: sign in and sync to fetch them.";
pub const DEFAULT_TILES: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
pub const FROM_FEED: &str = "Public feed";
pub const FROM_RESIDENT: &str = "Resident's report";

pub const ALL_CATEGORIES: &str = "All categories";
pub const FIELD_PERIOD: &str = "Period";
pub const ANY_TIME: &str = "Any time";
pub const FIELD_AREA: &str = "Area";
pub const EVERYWHERE: &str = "Everywhere on this device";
pub const LAST_7_DAYS: &str = "Last 7 days";
pub const LAST_30_DAYS: &str = "Last 30 days";
pub const LAST_YEAR: &str = "Last 12 months";

pub const AREAS_TITLE: &str = "Watch areas";
pub const AREAS_EMPTY: &str = "No watch areas yet: add the places you care about.";
pub const FIELD_AREA_NAME: &str = "Name (e.g. Home, School)";
pub const FIELD_RADIUS: &str = "Radius in metres";
pub const FIELD_SHAPE: &str = "Shape";
pub const SHAPE_CIRCLE: &str = "Circle around a point";
pub const SHAPE_POLYGON: &str = "Polygon (corner points)";
pub const FIELD_POINTS: &str = "Corners, one \"lat, lon\" per line (3 to 100)";
pub const FIELD_MIN_SEVERITY: &str = "Alert me about";
pub const SEVERITY_ALL: &str = "Everything";
pub const SEVERITY_SERIOUS: &str = "Serious incidents";
pub const SEVERITY_VIOLENT: &str = "Violent crime only";
pub const FIELD_QUIET_START: &str = "Quiet from (HH:MM)";
pub const FIELD_QUIET_END: &str = "Quiet until (HH:MM)";
pub const FIELD_TIME_ZONE: &str = "Time zone";
pub const QUIET_BOTH: &str =
    "Quiet hours: give both the start and the end (e.g. 22:00 and 07:00), or neither";
pub const TOO_FEW_POINTS: &str = "Corners: a polygon needs at least 3 points";
pub const ADD_AREA: &str = "Add area";
pub const DELETE: &str = "Delete";
pub const AREA_SYNCED: &str = "Alerts on";
pub const AREA_PENDING: &str = "Sent on the next sync";
/// Said under every risk hint: what it is and what it is not.
pub const HINT_NOTE: &str = "From past public reports near here, compared with the rest of the city at this hour. Not a prediction about you.";

/// The words for a risk level (`vigil_sync::risk::RiskLevel::label`).
pub fn risk_level(level: &str) -> &'static str {
    match level {
        "low" => "Lower than usual",
        "usual" => "Usual",
        "elevated" => "Elevated",
        "high" => "High",
        _ => "Unknown",
    }
}

pub fn area_added(name: &str) -> String {
    format!("Added {name}; it is sent to the server on the next sync.")
}

pub fn area_deleted(name: &str) -> String {
    format!("Deleted {name}.")
}

pub fn circle(radius_m: f64, lat: f64, lon: f64) -> String {
    format!("{radius_m:.0} m around {lat:.4}, {lon:.4}")
}

pub fn polygon(points: usize) -> String {
    format!("Polygon of {points} corners")
}

pub fn quiet(start: &str, end: &str, zone: &str) -> String {
    format!("Quiet {start}\u{2013}{end} ({zone})")
}

pub fn bad_point(line: usize, text: &str) -> String {
    format!("Corners, line {line}: {text:?} is not \"lat, lon\" (e.g. 43.6535, -79.3840)")
}

pub const ALERTS_TITLE: &str = "Alerts";
pub const ALERTS_EMPTY: &str = "No alerts yet. Add a watch area and sign in: incidents there show up here and as a notification.";
pub const WITHDRAWN: &str = "Withdrawn: the report was rejected or taken back";
pub const NEW: &str = "New";

pub fn nav_alerts(unread: u64) -> String {
    match unread {
        0 => "Alerts".to_owned(),
        n => format!("Alerts ({n})"),
    }
}

pub fn alert_near(category: &str, areas: &[String]) -> String {
    format!("{category} near {}", areas.join(", "))
}

pub fn digest(count: usize, areas: &[String], quiet: bool) -> String {
    let why = if quiet {
        "held during quiet hours"
    } else {
        "held back during a burst"
    };
    format!("{count} incidents near {} ({why})", areas.join(", "))
}

pub fn not_a_number(field: &str) -> String {
    format!("{field}: must be a number")
}

pub const SETTINGS_TITLE: &str = "Settings";
pub const FIELD_SERVER: &str = "Server";
pub const FIELD_USERNAME: &str = "Username";
pub const FIELD_PASSWORD: &str = "Password";
pub const FIELD_REGISTER: &str = "Create this account first";
pub const FIELD_TILES: &str =
    "Map tiles (https:// template with {z}, {x}, {y}; empty for OpenStreetMap)";
pub const TILES_SAVED: &str = "Map tiles saved.";
pub const SAVE: &str = "Save";
pub const SIGN_IN: &str = "Sign in";
pub const SIGN_OUT: &str = "Sign out";
pub const SIGNED_OUT: &str = "Signed out.";
pub const NOT_SIGNED_IN: &str = "Not signed in: reports wait in the outbox until you are.";

pub const CATEGORIES_TITLE: &str = "Report categories";
pub const SYNC_PROTOCOL: &str = "Sync protocol";
pub const CLIENT_VERSION: &str = "Client version";
pub const SHELL_UNREACHABLE: &str = "The desktop shell could not be reached";

pub fn synced(sent: usize, rejected: usize, pulled: usize, alerts: usize, photos: usize) -> String {
    let photos = match photos {
        0 => String::new(),
        1 => " Uploaded 1 photo.".to_owned(),
        n => format!(" Uploaded {n} photos."),
    };
    format!(
        "Sent {sent}, refused {rejected} (back among the drafts), fetched {pulled} changes and {alerts} new alerts.{photos}"
    )
}

pub fn signed_in(username: &str, server: &str) -> String {
    format!("Signed in as {username} on {server}.")
}

pub fn incident_count(n: usize) -> String {
    match n {
        1 => "1 incident".into(),
        n => format!("{n} incidents"),
    }
}

/// `text` safe to hand to an API that reads HTML (Leaflet's tooltips set `innerHTML`):
/// the five characters HTML gives meaning to, escaped.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---- report: where, photos, anonymity ----

pub const PICK_ON_MAP: &str =
    "Click the map where it happened, use your position, or find a place by name.";
pub const USE_MY_POSITION: &str = "Use my position";
pub const LOCATING: &str = "Finding your position…";
pub const FIND_PLACE: &str = "Find place";
pub const NO_PLACE_FOUND: &str = "No place by that name among the incidents on this device; click the map or type the coordinates.";

pub fn position_failed(why: &str) -> String {
    format!(
        "Your position is not available ({why}); click the map, find a place, or type the coordinates."
    )
}

pub fn position_found(accuracy_m: f64) -> String {
    format!("Position set (within {accuracy_m:.0} m).")
}

pub fn place_choice(name: &str, incidents: u64) -> String {
    format!("{name} ({incidents} incidents)")
}

pub const FIELD_PHOTO: &str = "Photo (optional, up to 4; resized on this device, metadata removed)";
pub const RESIZING: &str = "Resizing the photo…";
pub const REMOVE: &str = "Remove";
pub const FIELD_ANONYMOUS: &str =
    "Report anonymously (nobody, moderators included, sees who reported it)";

pub fn photo_line(width: u32, height: u32, bytes: usize) -> String {
    format!("{width} × {height}, {} KB", bytes.div_ceil(1000))
}

pub fn photo_state(uploaded: bool, refused: bool) -> &'static str {
    match (uploaded, refused) {
        (true, _) => "Sent",
        (false, true) => "Refused",
        (false, false) => "On this device",
    }
}

pub fn photo_failed(why: &str) -> String {
    format!("The photo could not be added: {why}")
}

// ---- incident detail ----

pub const DETAIL_TITLE: &str = "Incident";
pub const CLOSE: &str = "Close";
pub const FIELD_OCCURRED: &str = "Happened";
pub const FIELD_REPORTED: &str = "Reported to Vigil";
pub const FIELD_WHERE: &str = "Where";
pub const FIELD_SOURCE: &str = "Source";
pub const FIELD_RECORD: &str = "Record";
pub const FIELD_VERSION: &str = "Revision";
pub const OPEN_DETAIL: &str = "Open the incident's details";
pub const PHOTOS_TITLE: &str = "Photos";

/// The words for an incident's status.
pub fn status(code: &str) -> &'static str {
    match code {
        "unverified" => "Unverified: not checked by a moderator yet",
        "verified" => "Verified by a moderator",
        "resolved" => "Resolved",
        "rejected" => "Rejected",
        _ => "Unknown",
    }
}

pub fn feed_source(feed: &str) -> String {
    format!("{FROM_FEED}: {feed}")
}

// ---- dashboard ----

pub const NAV_DASHBOARD: &str = "Dashboard";
pub const DASHBOARD_TITLE: &str = "Dashboard";
pub const DASHBOARD_HINT: &str = "Counts for the map's view; pan or zoom to change it. The charts describe the district at the map's centre.";
pub const HEAT_TITLE: &str = "Incidents by block";
pub const TRENDS_TITLE: &str = "By month and category";
pub const HOURS_TITLE: &str = "By hour of the week (local time)";
pub const DASHBOARD_EMPTY: &str = "No incidents counted here yet.";
pub const TABLE_SUMMARY: &str = "The numbers, as a table";
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
pub const FIELD_MONTH: &str = "Month";
pub const FIELD_COUNT: &str = "Incidents";

pub fn cells_counted(cells: usize, total: i64, res: u8) -> String {
    let unit = if res == 8 { "blocks" } else { "districts" };
    format!("{total} incidents in {cells} {unit} in view")
}

pub fn as_of(when: &str, partial: bool) -> String {
    if partial {
        format!("Exact up to {when}; some recent counts could not be read, try again shortly.")
    } else {
        format!("Exact up to {when}, with everything since.")
    }
}

pub fn busiest_hour(day: usize, hour: usize, count: i64) -> String {
    format!(
        "Busiest: {} {hour:02}:00–{hour:02}:59 ({count} incidents)",
        WEEKDAYS[day % 7]
    )
}

// ---- settings: export ----

pub const EXPORT_TITLE: &str = "Your data";
pub const EXPORT_HINT: &str = "Download everything the server holds about you: your account, reports, watch areas, devices, groups and alerts.";
pub const EXPORT: &str = "Export my data";

pub fn exported(path: &str) -> String {
    format!("Saved to {path}")
}

// ---- keyboard ----

pub const KEYS_TITLE: &str = "Keyboard";
pub const KEYS_HELP: &str = "Alt+1 … Alt+9 open the screens in the order of the bar; Tab moves between fields and list items, Enter opens one, Escape closes a detail.";

pub const GROUPS_TITLE: &str = "Watch groups";
pub const GROUPS_HINT: &str = "Groups share private reports among neighbours; their moderators review the reports made through them. These need the server.";
pub const GROUPS_EMPTY: &str =
    "You are in no group yet: join one with the code a neighbour gave you, or start one.";
pub const FIELD_JOIN_CODE: &str = "Invitation code or link";
pub const JOIN: &str = "Join";
pub const FIELD_GROUP_NAME: &str = "New group's name";
pub const CREATE_GROUP: &str = "Start a group";
pub const INVITE: &str = "Invite members";
pub const QUEUE_TITLE: &str = "Waiting for review";
pub const QUEUE_EMPTY: &str = "Nothing waiting for review.";
pub const VERIFY: &str = "Verify";
pub const REJECT: &str = "Reject";
pub const MERGE: &str = "Same as the nearest";
pub const FIELD_REJECT_REASON: &str = "Why (the reporter reads this)";
pub const ANONYMOUS_REPORTER: &str = "anonymous";
pub const PRIVATE: &str = "members only";

pub fn role(role: &str) -> &'static str {
    match role {
        "admin" => "Admin",
        "moderator" => "Moderator",
        _ => "Member",
    }
}

pub fn members(n: i64) -> String {
    if n == 1 {
        "1 member".to_owned()
    } else {
        format!("{n} members")
    }
}

pub fn group_created(name: &str) -> String {
    format!("{name} started: you are its admin. Invite your neighbours with a code.")
}

pub fn group_joined(name: &str) -> String {
    format!("You are in {name}.")
}

pub fn invite_shown(expires_at: &str, max_uses: i64) -> String {
    format!(
        "Share this code or link; it is shown only now. Up to {max_uses} people may join with it until {expires_at}."
    )
}

pub fn reported_by(reporter: Option<&str>) -> String {
    format!("by {}", reporter.unwrap_or(ANONYMOUS_REPORTER))
}

pub fn possible_duplicates(n: usize, nearest_m: f64) -> String {
    if n == 1 {
        format!("Possibly the same as 1 report {nearest_m:.0} m away")
    } else {
        format!("Possibly the same as {n} reports, the nearest {nearest_m:.0} m away")
    }
}

pub fn decided(code: &str) -> String {
    format!("Done: {}.", status(code))
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_escaped_for_tooltips() {
        assert_eq!(
            super::escape_html(r#"<img src=x onerror="alert('1')"> & co"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt; &amp; co"
        );
        assert_eq!(
            super::escape_html("Break and enter: 2026-11-28"),
            "Break and enter: 2026-11-28"
        );
    }
}
