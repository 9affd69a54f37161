//! The incident taxonomy: one list for user reports and every public feed.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// What kind of incident a report describes. Feeds map their own codes onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Category {
    Assault,
    Robbery,
    BreakAndEnter,
    AutoTheft,
    Theft,
    Vandalism,
    Harassment,
    SuspiciousActivity,
    Drugs,
    Weapons,
    Other,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 11] = [
        Category::Assault,
        Category::Robbery,
        Category::BreakAndEnter,
        Category::AutoTheft,
        Category::Theft,
        Category::Vandalism,
        Category::Harassment,
        Category::SuspiciousActivity,
        Category::Drugs,
        Category::Weapons,
        Category::Other,
    ];

    /// The stable wire and storage code, e.g. `break_and_enter`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Assault => "assault",
            Category::Robbery => "robbery",
            Category::BreakAndEnter => "break_and_enter",
            Category::AutoTheft => "auto_theft",
            Category::Theft => "theft",
            Category::Vandalism => "vandalism",
            Category::Harassment => "harassment",
            Category::SuspiciousActivity => "suspicious_activity",
            Category::Drugs => "drugs",
            Category::Weapons => "weapons",
            Category::Other => "other",
        }
    }

    /// A label for people, e.g. `Break and enter`.
    pub const fn label(self) -> &'static str {
        match self {
            Category::Assault => "Assault",
            Category::Robbery => "Robbery",
            Category::BreakAndEnter => "Break and enter",
            Category::AutoTheft => "Auto theft",
            Category::Theft => "Theft",
            Category::Vandalism => "Vandalism",
            Category::Harassment => "Harassment",
            Category::SuspiciousActivity => "Suspicious activity",
            Category::Drugs => "Drugs",
            Category::Weapons => "Weapons",
            Category::Other => "Other",
        }
    }

    /// How serious an incident of this kind is, 1 to 3: 3 for violence or weapons, 2 for
    /// break-ins, vehicle theft, harassment and drugs, 1 for the rest. Watch areas alert at or
    /// above a minimum severity.
    pub const fn severity(self) -> u8 {
        match self {
            Category::Assault | Category::Robbery | Category::Weapons => 3,
            Category::BreakAndEnter
            | Category::AutoTheft
            | Category::Harassment
            | Category::Drugs => 2,
            Category::Theft
            | Category::Vandalism
            | Category::SuspiciousActivity
            | Category::Other => 1,
        }
    }

    /// The wire codes joined for error messages.
    pub fn codes() -> String {
        Category::ALL.map(Category::as_str).join(", ")
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of [`Category::ALL`]'s codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category {0:?}; use one of: {list}", list = Category::codes())]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text_and_json() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Category>(&json).unwrap(), c);
        }
    }

    #[test]
    fn unknown_code_lists_the_valid_ones() {
        let err = "arson".parse::<Category>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("unknown category \"arson\"; use one of: assault, robbery"));
        assert!(msg.ends_with("weapons, other"));
    }
}
