//! One taxonomy: every public feed's own crime classification mapped onto Vigil's
//! [`Category`].
//!
//! Each [`Scheme`] is a table from the source's label (as published, compared without
//! regard to case, spacing or punctuation) to a category. A label the table does not
//! know becomes [`Category::Other`]; the mapping keeps the source's label so it can be
//! shown and counted, and [`Unmapped`] tallies such labels per scheme so a source that
//! starts publishing a new classification is noticed instead of silently lumped in.
//!
//! The tables follow the sources' published code lists:
//! - Chicago: the `primary_type` of the Crimes dataset (IUCR primary descriptions).
//! - San Francisco: `incident_category` of Police Department Incident Reports (2018-).
//! - New York: `ofns_desc` of NYPD Complaint Data (historic and year to date); the law
//!   category (`law_cat_cd`: felony, misdemeanor, violation) is kept in the label only.
//! - Toronto: `MCI_CATEGORY` of the Major Crime Indicators layer.
//! - police.uk: the `category` slugs of `crimes-street`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::LazyLock;

use vigil_sync::Category;

/// Whose classification a label comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    Chicago,
    SanFrancisco,
    NewYork,
    TorontoMci,
    PoliceUk,
}

impl Scheme {
    pub const ALL: [Scheme; 5] = [
        Scheme::Chicago,
        Scheme::SanFrancisco,
        Scheme::NewYork,
        Scheme::TorontoMci,
        Scheme::PoliceUk,
    ];

    /// The name used in config and summaries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Chicago => "chicago",
            Scheme::SanFrancisco => "san_francisco",
            Scheme::NewYork => "new_york",
            Scheme::TorontoMci => "toronto_mci",
            Scheme::PoliceUk => "police_uk",
        }
    }

    /// The scheme named `name` (as in [`Scheme::as_str`]).
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn table(self) -> &'static [(&'static str, Category)] {
        match self {
            Scheme::Chicago => CHICAGO,
            Scheme::SanFrancisco => SAN_FRANCISCO,
            Scheme::NewYork => NEW_YORK,
            Scheme::TorontoMci => TORONTO_MCI,
            Scheme::PoliceUk => POLICE_UK,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source label mapped onto the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub category: Category,
    /// The label as the source published it (trimmed).
    pub label: String,
    /// False when the scheme's table does not know the label (the category is then
    /// `other`).
    pub known: bool,
}

/// Maps a source's label onto a category.
pub fn map(scheme: Scheme, label: &str) -> Mapped {
    let found = INDEX.get(&(scheme, normalise(label))).copied();
    Mapped {
        category: found.unwrap_or(Category::Other),
        label: label.trim().to_owned(),
        known: found.is_some(),
    }
}

/// A label's category, and the scheme's name when the scheme did not know the label (to
/// count it as unmapped).
pub fn classify(scheme: Scheme, label: &str) -> (Category, Option<String>) {
    let m = map(scheme, label);
    (m.category, (!m.known).then(|| scheme.as_str().to_owned()))
}

/// Every table, by scheme and normalised label.
static INDEX: LazyLock<HashMap<(Scheme, String), Category>> = LazyLock::new(|| {
    Scheme::ALL
        .iter()
        .flat_map(|&s| s.table().iter().map(move |(l, c)| ((s, normalise(l)), *c)))
        .collect()
});

/// Upper-case letters and digits only: `Larceny Theft`, `LARCENY  THEFT` and
/// `larceny-theft` compare equal (schema drift in case and separators is common).
fn normalise(label: &str) -> String {
    label
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A source's own table from its labels to categories (the generic CSV and JSON feeds'
/// `categories` in config). A label it does not know may still be one of Vigil's own
/// category codes (`theft`, `break_and_enter`); otherwise it is unmapped.
#[derive(Debug, Clone, Default)]
pub struct CustomTable(HashMap<String, Category>);

impl CustomTable {
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, Category)>) -> CustomTable {
        CustomTable(
            entries
                .into_iter()
                .map(|(l, c)| (normalise(l), c))
                .collect(),
        )
    }

    pub fn map(&self, label: &str) -> Mapped {
        let found = self
            .0
            .get(&normalise(label))
            .copied()
            .or_else(|| label.trim().to_ascii_lowercase().parse().ok());
        Mapped {
            category: found.unwrap_or(Category::Other),
            label: label.trim().to_owned(),
            known: found.is_some(),
        }
    }
}

/// Labels that no table knew, counted per scheme (a [`Scheme`]'s name, or a source's name
/// for its own table).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unmapped(BTreeMap<(String, String), u64>);

impl Unmapped {
    /// Counts `mapped` if its label was unknown; returns its category either way.
    pub fn note(&mut self, scheme: &str, mapped: &Mapped) -> Category {
        if !mapped.known {
            *self
                .0
                .entry((scheme.to_owned(), mapped.label.clone()))
                .or_default() += 1;
        }
        mapped.category
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Unmapped) {
        for (k, n) in &other.0 {
            *self.0.entry(k.clone()).or_default() += n;
        }
    }

    /// `(scheme, label, count)`, most frequent first.
    pub fn by_count(&self) -> Vec<(&str, &str, u64)> {
        let mut out: Vec<_> = self
            .0
            .iter()
            .map(|((s, l), n)| (s.as_str(), l.as_str(), *n))
            .collect();
        out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(b.1)));
        out
    }
}

use Category::{
    Assault, AutoTheft, BreakAndEnter, Drugs, Harassment, Other, Robbery, SuspiciousActivity,
    Theft, Vandalism, Weapons,
};

/// Chicago Crimes `primary_type`.
const CHICAGO: &[(&str, Category)] = &[
    ("ARSON", Vandalism),
    ("ASSAULT", Assault),
    ("BATTERY", Assault),
    ("BURGLARY", BreakAndEnter),
    ("CONCEALED CARRY LICENSE VIOLATION", Weapons),
    ("CRIM SEXUAL ASSAULT", Assault),
    ("CRIMINAL SEXUAL ASSAULT", Assault),
    ("CRIMINAL DAMAGE", Vandalism),
    ("CRIMINAL TRESPASS", SuspiciousActivity),
    ("DECEPTIVE PRACTICE", Other),
    ("GAMBLING", Other),
    ("HOMICIDE", Assault),
    ("HUMAN TRAFFICKING", Assault),
    ("INTERFERENCE WITH PUBLIC OFFICER", Other),
    ("INTIMIDATION", Harassment),
    ("KIDNAPPING", Assault),
    ("LIQUOR LAW VIOLATION", Other),
    ("MOTOR VEHICLE THEFT", AutoTheft),
    ("NARCOTICS", Drugs),
    ("NON-CRIMINAL", Other),
    ("NON-CRIMINAL (SUBJECT SPECIFIED)", Other),
    ("OBSCENITY", Harassment),
    ("OFFENSE INVOLVING CHILDREN", Assault),
    ("OTHER NARCOTIC VIOLATION", Drugs),
    ("OTHER OFFENSE", Other),
    ("PROSTITUTION", Other),
    ("PUBLIC INDECENCY", Harassment),
    ("PUBLIC PEACE VIOLATION", Harassment),
    ("RITUALISM", Other),
    ("ROBBERY", Robbery),
    ("SEX OFFENSE", Assault),
    ("STALKING", Harassment),
    ("THEFT", Theft),
    ("WEAPONS VIOLATION", Weapons),
];

/// San Francisco `incident_category`.
const SAN_FRANCISCO: &[(&str, Category)] = &[
    ("Arson", Vandalism),
    ("Assault", Assault),
    ("Burglary", BreakAndEnter),
    ("Case Closure", Other),
    ("Civil Sidewalks", Other),
    ("Courtesy Report", Other),
    ("Disorderly Conduct", Harassment),
    ("Drug Offense", Drugs),
    ("Drug Violation", Drugs),
    ("Embezzlement", Other),
    ("Fire Report", Other),
    ("Forgery And Counterfeiting", Other),
    ("Fraud", Other),
    ("Gambling", Other),
    ("Homicide", Assault),
    ("Human Trafficking (A), Commercial Sex Acts", Assault),
    ("Human Trafficking (B), Involuntary Servitude", Assault),
    ("Human Trafficking, Commercial Sex Acts", Assault),
    ("Juvenile Offenses", Other),
    ("Larceny Theft", Theft),
    ("Liquor Laws", Other),
    ("Lost Property", Other),
    ("Malicious Mischief", Vandalism),
    ("Miscellaneous Investigation", Other),
    ("Missing Person", Other),
    ("Motor Vehicle Theft", AutoTheft),
    ("Non-Criminal", Other),
    ("Offences Against The Family And Children", Assault),
    ("Other", Other),
    ("Other Miscellaneous", Other),
    ("Other Offenses", Other),
    ("Prostitution", Other),
    ("Rape", Assault),
    ("Recovered Vehicle", Other),
    ("Robbery", Robbery),
    ("Sex Offense", Assault),
    ("Stolen Property", Theft),
    ("Suicide", Other),
    ("Suspicious", SuspiciousActivity),
    ("Suspicious Occ", SuspiciousActivity),
    ("Traffic Collision", Other),
    ("Traffic Violation Arrest", Other),
    ("Vandalism", Vandalism),
    ("Vehicle Impounded", Other),
    ("Vehicle Misplaced", Other),
    ("Warrant", Other),
    ("Weapons Carrying Etc", Weapons),
    ("Weapons Offence", Weapons),
    ("Weapons Offense", Weapons),
];

/// New York `ofns_desc` (as published, abbreviations and typos included).
const NEW_YORK: &[(&str, Category)] = &[
    ("ADMINISTRATIVE CODE", Other),
    ("AGRICULTURE & MRKTS LAW-UNCLASSIFIED", Other),
    ("ALCOHOLIC BEVERAGE CONTROL LAW", Other),
    ("ARSON", Vandalism),
    ("ASSAULT 3 & RELATED OFFENSES", Assault),
    ("BURGLAR'S TOOLS", BreakAndEnter),
    ("BURGLARY", BreakAndEnter),
    ("CHILD ABANDONMENT/NON SUPPORT", Other),
    ("CRIMINAL MISCHIEF & RELATED OF", Vandalism),
    ("CRIMINAL TRESPASS", SuspiciousActivity),
    ("DANGEROUS DRUGS", Drugs),
    ("DANGEROUS WEAPONS", Weapons),
    ("DISORDERLY CONDUCT", Harassment),
    ("ENDAN WELFARE INCOMP", Other),
    ("ESCAPE 3", Other),
    ("FELONY ASSAULT", Assault),
    ("FELONY SEX CRIMES", Assault),
    ("FORGERY", Other),
    ("FRAUDS", Other),
    ("FRAUDULENT ACCOSTING", Other),
    ("GAMBLING", Other),
    ("GRAND LARCENY", Theft),
    ("GRAND LARCENY OF MOTOR VEHICLE", AutoTheft),
    ("HARRASSMENT 2", Harassment),
    ("HARASSMENT 2", Harassment),
    ("HOMICIDE-NEGLIGENT,UNCLASSIFIE", Assault),
    ("HOMICIDE-NEGLIGENT-VEHICLE", Other),
    ("INTOXICATED & IMPAIRED DRIVING", Other),
    ("JOSTLING", Harassment),
    ("KIDNAPPING", Assault),
    ("KIDNAPPING & RELATED OFFENSES", Assault),
    ("KIDNAPPING AND RELATED OFFENSES", Assault),
    ("LOITERING/GAMBLING (CARDS, DIC", Other),
    ("MISCELLANEOUS PENAL LAW", Other),
    ("MURDER & NON-NEGL. MANSLAUGHTER", Assault),
    ("NYS LAWS-UNCLASSIFIED FELONY", Other),
    ("NYS LAWS-UNCLASSIFIED VIOLATION", Other),
    ("OFF. AGNST PUB ORD SENSBLTY &", Harassment),
    ("OFFENSES AGAINST PUBLIC ADMINI", Other),
    ("OFFENSES AGAINST PUBLIC SAFETY", Other),
    ("OFFENSES AGAINST THE PERSON", Assault),
    ("OFFENSES INVOLVING FRAUD", Other),
    ("OFFENSES RELATED TO CHILDREN", Assault),
    ("OTHER OFFENSES RELATED TO THEF", Theft),
    ("OTHER STATE LAWS", Other),
    ("OTHER STATE LAWS (NON PENAL LA", Other),
    ("OTHER STATE LAWS (NON PENAL LAW)", Other),
    ("PETIT LARCENY", Theft),
    ("PETIT LARCENY OF MOTOR VEHICLE", AutoTheft),
    ("POSSESSION OF STOLEN PROPERTY", Theft),
    ("PROSTITUTION & RELATED OFFENSES", Other),
    ("RAPE", Assault),
    ("ROBBERY", Robbery),
    ("SEX CRIMES", Assault),
    ("THEFT OF SERVICES", Theft),
    ("THEFT-FRAUD", Other),
    ("UNAUTHORIZED USE OF A VEHICLE", AutoTheft),
    ("UNLAWFUL POSS. WEAP. ON SCHOOL", Weapons),
    ("VEHICLE AND TRAFFIC LAWS", Other),
];

/// Toronto Police `MCI_CATEGORY`.
const TORONTO_MCI: &[(&str, Category)] = &[
    ("Assault", Assault),
    ("Auto Theft", AutoTheft),
    ("Break and Enter", BreakAndEnter),
    ("Robbery", Robbery),
    ("Theft Over", Theft),
];

/// police.uk street-level crime categories.
const POLICE_UK: &[(&str, Category)] = &[
    ("anti-social-behaviour", Harassment),
    ("bicycle-theft", Theft),
    ("burglary", BreakAndEnter),
    ("criminal-damage-arson", Vandalism),
    ("drugs", Drugs),
    ("other-crime", Other),
    ("other-theft", Theft),
    ("possession-of-weapons", Weapons),
    ("public-disorder-weapons", Weapons),
    ("public-order", Harassment),
    ("robbery", Robbery),
    ("shoplifting", Theft),
    ("theft-from-the-person", Theft),
    ("vehicle-crime", AutoTheft),
    ("violence-and-sexual-offences", Assault),
    ("violent-crime", Assault),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_table_maps_its_labels_once() {
        for scheme in Scheme::ALL {
            let mut seen = HashSet::new();
            for (label, category) in scheme.table() {
                assert!(
                    seen.insert(normalise(label)),
                    "{scheme}: {label:?} is listed twice (after normalising)"
                );
                let m = map(scheme, label);
                assert_eq!((m.category, m.known), (*category, true), "{scheme} {label}");
            }
        }
    }

    #[test]
    fn each_source_maps_its_common_labels() {
        let cases = [
            (Scheme::Chicago, "BATTERY", Assault),
            (Scheme::Chicago, "MOTOR VEHICLE THEFT", AutoTheft),
            (Scheme::Chicago, "NARCOTICS", Drugs),
            (Scheme::SanFrancisco, "Larceny Theft", Theft),
            (Scheme::SanFrancisco, "Malicious Mischief", Vandalism),
            (Scheme::NewYork, "GRAND LARCENY OF MOTOR VEHICLE", AutoTheft),
            (Scheme::NewYork, "HARRASSMENT 2", Harassment),
            (Scheme::TorontoMci, "Break and Enter", BreakAndEnter),
            (Scheme::TorontoMci, "Theft Over", Theft),
            (Scheme::PoliceUk, "violent-crime", Assault),
            (Scheme::PoliceUk, "vehicle-crime", AutoTheft),
        ];
        for (scheme, label, want) in cases {
            assert_eq!(map(scheme, label).category, want, "{scheme} {label}");
        }
    }

    #[test]
    fn case_spacing_and_separators_do_not_matter() {
        // Schema drift: older exports in lower case, with other separators.
        assert_eq!(
            map(Scheme::Chicago, "motor vehicle theft").category,
            AutoTheft
        );
        assert_eq!(
            map(Scheme::SanFrancisco, " LARCENY  THEFT ").category,
            Theft
        );
        assert_eq!(map(Scheme::PoliceUk, "Vehicle Crime").category, AutoTheft);
        assert_eq!(
            map(Scheme::SanFrancisco, " LARCENY  THEFT ").label,
            "LARCENY  THEFT"
        );
    }

    #[test]
    fn an_unknown_label_becomes_other_keeps_its_label_and_is_counted() {
        let mut unmapped = Unmapped::default();
        for label in ["Cyber Crime", "Cyber Crime", "Arson"] {
            let m = map(Scheme::TorontoMci, label);
            assert_eq!(unmapped.note(Scheme::TorontoMci.as_str(), &m), Other);
            assert!(!m.known);
            assert_eq!(m.label, label);
        }
        // A label the table maps to `other` on purpose is known, not counted.
        let fraud = map(Scheme::SanFrancisco, "Fraud");
        assert_eq!((fraud.category, fraud.known), (Other, true));
        unmapped.note(Scheme::SanFrancisco.as_str(), &fraud);
        assert_eq!(unmapped.total(), 3);
        assert_eq!(
            unmapped.by_count(),
            vec![
                ("toronto_mci", "Cyber Crime", 2),
                ("toronto_mci", "Arson", 1)
            ]
        );
    }

    #[test]
    fn a_custom_table_falls_back_to_vigil_codes() {
        let table = CustomTable::new([("Stolen Vehicle", AutoTheft), ("Shooting", Weapons)]);
        assert_eq!(table.map("STOLEN-VEHICLE").category, AutoTheft);
        assert!(table.map("stolen vehicle").known);
        let code = table.map(" Break_And_Enter ");
        assert_eq!((code.category, code.known), (BreakAndEnter, true));
        let unknown = table.map("Arrest");
        assert_eq!((unknown.category, unknown.known), (Other, false));
        assert_eq!(unknown.label, "Arrest");
    }
}
