//! The documented compatibility tables (`fixtures/compat/*.toml`) and their comparison
//! with the measured matrix.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub name: String,
    pub title: String,
    pub source: String,
    /// Row label → client target-name prefix.
    pub rows: BTreeMap<String, String>,
    /// Column label → server target-name prefix.
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub footnotes: BTreeMap<String, Footnote>,
    /// Row label → column label → `YES`, `NO`, or `YES <footnote>`.
    pub cells: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Footnote {
    pub text: String,
    /// The server profile the footnote asks for (`allowEIO3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_profile: Option<String>,
    /// A client option the footnote asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_option: Option<serde_json::Value>,
}

/// What a table says about one client × server pair.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Documented {
    pub table: String,
    pub row: String,
    pub column: String,
    pub yes: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footnote: Option<Footnote>,
}

impl Documented {
    /// The profile a measured cell must have to be compared with this entry.
    pub fn profile(&self) -> &str {
        self.footnote.as_ref().and_then(|f| f.server_profile.as_deref()).unwrap_or("default")
    }
    pub fn label(&self) -> String {
        match &self.footnote {
            Some(f) if self.yes => format!("YES ({})", f.text.trim_start_matches("Yes, ").trim_start_matches("Sí, ")),
            _ if self.yes => "YES".into(),
            _ => "NO".into(),
        }
    }
}

pub fn load_tables(dir: &Path) -> Result<Vec<Table>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let t: Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        for (row, cols) in &t.cells {
            if !t.rows.contains_key(row) {
                return Err(format!("{}: cells name row `{row}`, which [rows] does not define", f.display()));
            }
            for (col, v) in cols {
                if !t.columns.contains_key(col) {
                    return Err(format!("{}: cells name column `{col}`, which [columns] does not define", f.display()));
                }
                parse_cell(v, &t.footnotes).map_err(|e| format!("{}: cell {row} × {col}: {e}", f.display()))?;
            }
        }
        out.push(t);
    }
    Ok(out)
}

fn parse_cell(v: &str, notes: &BTreeMap<String, Footnote>) -> Result<(bool, Option<Footnote>), String> {
    let mut parts = v.split_whitespace();
    let yes = match parts.next() {
        Some("YES") => true,
        Some("NO") => false,
        other => return Err(format!("expected YES or NO, got {other:?}")),
    };
    let note = match parts.next() {
        Some(n) => Some(notes.get(n).cloned().ok_or_else(|| format!("footnote {n} is not defined"))?),
        None => None,
    };
    Ok((yes, note))
}

/// The documented entry for a client target × server target, if a table covers the pair.
pub fn documented(tables: &[Table], client: &str, server: &str) -> Option<Documented> {
    for t in tables {
        let row = t.rows.iter().find(|(_, p)| client.starts_with(p.as_str())).map(|(l, _)| l);
        let col = t.columns.iter().find(|(_, p)| server.starts_with(p.as_str())).map(|(l, _)| l);
        if let (Some(row), Some(col)) = (row, col) {
            let v = t.cells.get(row)?.get(col)?;
            let (yes, footnote) = parse_cell(v, &t.footnotes).ok()?;
            return Some(Documented { table: t.name.clone(), row: row.clone(), column: col.clone(), yes, footnote });
        }
    }
    None
}

/// What the table says for one server profile. A YES that needs a server option is an
/// implied NO for the default profile; an entry without a footnote holds for every profile.
pub fn for_profile(d: Documented, profile: &str) -> Option<Documented> {
    let needs = d.footnote.as_ref().and_then(|f| f.server_profile.clone());
    match needs {
        None => Some(d),
        Some(p) if p == profile => Some(d),
        Some(p) if profile == "default" => Some(Documented {
            yes: false,
            footnote: Some(Footnote {
                text: format!("implied: the table says YES only with {p}"),
                server_profile: None,
                client_option: None,
            }),
            ..d
        }),
        Some(_) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    Agrees,
    /// The table says YES; here it fails (NO or PARTIAL).
    DocumentedYesFailsHere,
    /// The table says NO; here every scenario passes.
    DocumentedNoWorksHere,
    /// The table says NO; here it connects and some scenarios pass, but not all: the pair is
    /// not compatible, as documented (an agreement; the failing scenarios say where it breaks).
    DocumentedNoPartlyWorksHere,
}

impl Agreement {
    pub fn describe(self) -> &'static str {
        match self {
            Agreement::Agrees => "agrees",
            Agreement::DocumentedYesFailsHere => "documented YES, fails here",
            Agreement::DocumentedNoWorksHere => "documented NO, works here",
            Agreement::DocumentedNoPartlyWorksHere => "agrees (connects, but fails where named)",
        }
    }

    /// The measurement contradicts the table: the matrix fails unless the cell is listed as known.
    pub fn is_disagreement(self) -> bool {
        matches!(self, Agreement::DocumentedYesFailsHere | Agreement::DocumentedNoWorksHere)
    }
}

pub fn compare(doc: &Documented, measured: super::CellVerdict) -> Agreement {
    use super::CellVerdict::*;
    match (doc.yes, measured) {
        (true, Yes) | (false, No) => Agreement::Agrees,
        (true, _) => Agreement::DocumentedYesFailsHere,
        (false, Yes) => Agreement::DocumentedNoWorksHere,
        (false, Partial) => Agreement::DocumentedNoPartlyWorksHere,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tables_load_and_answer() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compat");
        let tables = load_tables(&dir).expect("tables load");
        let d = documented(&tables, "socket.io-client@2.5.0", "socket.io@4.8.4").expect("covered");
        assert!(d.yes);
        assert_eq!(d.profile(), "allowEIO3");
        let d = documented(&tables, "socket.io-client@1.7.4", "socket.io@2.5.1").expect("covered");
        assert!(!d.yes);
        assert_eq!(d.profile(), "default");
        assert!(documented(&tables, "python-socketio-client@5.0.0", "socket.io@4.8.4").is_none());
        let d = documented(&tables, "java-socket.io-client@1.0.2", "socket.io@3.1.2").expect("java table");
        assert_eq!(d.label(), "YES (with allowEIO3: true (server))");
    }
}
