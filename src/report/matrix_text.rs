//! The matrix as a terminal table, Markdown, JSON and its snapshot table (the HTML page:
//! `matrix_page`), and the helpers every rendering of it shares.
use crate::matrix::{Cell, CellVerdict, Matrix};
use std::fmt::Write;

pub fn columns(m: &Matrix) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = Vec::new();
    for c in &m.cells {
        let k = (c.server.clone(), c.profile.clone());
        if !cols.contains(&k) {
            cols.push(k);
        }
    }
    cols
}

pub fn col_label(server: &str, profile: &str) -> String {
    if profile == "default" {
        server.to_string()
    } else {
        format!("{server} +{profile}")
    }
}

pub fn find<'a>(m: &'a Matrix, client: &str, server: &str, profile: &str) -> Option<&'a Cell> {
    m.cells.iter().find(|c| c.client == client && c.server == server && c.profile == profile)
}

fn mark(c: &Cell) -> &'static str {
    match c.agreement {
        None => "",
        Some(a) if a.is_disagreement() && c.known.is_some() => " ≈",
        Some(a) if a.is_disagreement() => " ≠",
        Some(_) => " ✓",
    }
}

pub fn differences(m: &Matrix) -> Vec<&Cell> {
    m.cells.iter().filter(|c| matches!(c.agreement, Some(a) if a.is_disagreement())).collect()
}

pub fn terminal(m: &Matrix) -> String {
    let cols = columns(m);
    let labels: Vec<String> = cols.iter().map(|(s, p)| col_label(s, p)).collect();
    let w0 = m.clients.iter().map(|c| c.len()).max().unwrap_or(6).max(16);
    let widths: Vec<usize> = labels.iter().map(|l| l.len().max(11)).collect();
    let mut out = String::new();
    let _ = write!(out, "{:<w0$}", "client \\ server");
    for (l, w) in labels.iter().zip(&widths) {
        let _ = write!(out, "  {l:<w$}");
    }
    out.push('\n');
    for client in &m.clients {
        let _ = write!(out, "{client:<w0$}");
        for ((s, p), w) in cols.iter().zip(&widths) {
            let v = find(m, client, s, p).map(|c| format!("{}{}", c.verdict.as_str(), mark(c))).unwrap_or_default();
            let _ = write!(out, "  {v:<w$}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n✓ agrees with the documented table · ≠ differs from it (listed below) · ≈ differs, a known finding (fixtures/expectations/matrix.toml)");
    let not_yes: Vec<&Cell> = m.cells.iter().filter(|c| c.verdict != CellVerdict::Yes).collect();
    if !not_yes.is_empty() {
        let _ = writeln!(out, "\nWhy not YES:");
        for c in not_yes {
            let _ = writeln!(out, "  {} × {}: {} — {}", c.client, col_label(&c.server, &c.profile), c.verdict.as_str(), c.reason);
        }
    }
    let diffs = differences(m);
    if !diffs.is_empty() {
        let _ = writeln!(out, "\nDifferences from the documented tables:");
        for c in diffs {
            let d = c.documented.as_ref().expect("agreement implies documented");
            let _ = writeln!(
                out,
                "  {} × {}: {} (table `{}`: {} × {} = {}); measured {}{}",
                c.client,
                col_label(&c.server, &c.profile),
                c.agreement.map(|a| a.describe()).unwrap_or(""),
                d.table,
                d.row,
                d.column,
                d.label(),
                c.verdict.as_str(),
                c.known.as_ref().map(|k| format!("; known: {k}")).unwrap_or_default()
            );
        }
    }
    if !m.unexpected.is_empty() {
        let _ = writeln!(out, "\nUnexpected (the matrix fails; list a checked finding in fixtures/expectations/matrix.toml):");
        for u in &m.unexpected {
            let _ = writeln!(out, "  {u}");
        }
    }
    let _ = writeln!(out, "\n{} cells in {:.1} s", m.cells.len(), m.wall_ms as f64 / 1000.0);
    out
}

pub fn markdown(m: &Matrix) -> String {
    let cols = columns(m);
    let mut out = String::new();
    let _ = writeln!(out, "| client \\ server | {} |", cols.iter().map(|(s, p)| col_label(s, p)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(cols.len()));
    for client in &m.clients {
        let row: Vec<String> = cols
            .iter()
            .map(|(s, p)| {
                find(m, client, s, p)
                    .map(|c| {
                        let v = if c.verdict == CellVerdict::Yes {
                            format!("**{}**", c.verdict.as_str())
                        } else {
                            c.verdict.as_str().to_string()
                        };
                        format!("{v}{}", mark(c))
                    })
                    .unwrap_or_default()
            })
            .collect();
        let _ = writeln!(out, "| `{client}` | {} |", row.join(" | "));
    }
    let _ = writeln!(out, "\n✓ agrees with the documented table · ≠ differs from it · ≈ differs, a known finding\n");
    let not_yes: Vec<&Cell> = m.cells.iter().filter(|c| c.verdict != CellVerdict::Yes).collect();
    if !not_yes.is_empty() {
        let _ = writeln!(out, "<details><summary>Why not YES ({} cells)</summary>\n", not_yes.len());
        for c in not_yes {
            let _ = writeln!(
                out,
                "- `{}` × `{}`: **{}** — {}",
                c.client,
                col_label(&c.server, &c.profile),
                c.verdict.as_str(),
                c.reason.replace('|', "\\|")
            );
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    let diffs = differences(m);
    if !diffs.is_empty() {
        let _ = writeln!(out, "**Differences from the documented tables**\n");
        for c in diffs {
            let d = c.documented.as_ref().expect("agreement implies documented");
            let _ = writeln!(
                out,
                "- `{}` × `{}`: {} — documented {} ({} table, {} × {}), measured {}{}",
                c.client,
                col_label(&c.server, &c.profile),
                c.agreement.map(|a| a.describe()).unwrap_or(""),
                d.label(),
                d.table,
                d.row,
                d.column,
                c.verdict.as_str(),
                c.known.as_ref().map(|k| format!(" (known: {})", k.replace('|', "\\|"))).unwrap_or_default()
            );
        }
    }
    out
}

pub fn json(m: &Matrix) -> String {
    serde_json::to_string_pretty(m).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn anchor(c: &Cell) -> String {
    format!("{}--{}--{}", c.client, c.server, c.profile).chars().map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' }).collect()
}

/// The stable part of a matrix, for snapshots: verdicts, documented values and agreements.
pub fn snapshot_table(m: &Matrix) -> String {
    let mut out = String::new();
    for c in &m.cells {
        let doc = c
            .documented
            .as_ref()
            .map(|d| {
                let known = if c.known.is_some() { ", listed as known" } else { "" };
                format!("documented {} → {}{known}", d.label(), c.agreement.map(|a| a.describe()).unwrap_or(""))
            })
            .unwrap_or_else(|| "not documented".into());
        let failing: Vec<String> = c
            .scenarios
            .iter()
            .filter(|r| r.outcome != crate::matrix::play::Outcome::Pass)
            .map(|r| {
                format!(
                    "{}[{}]={}",
                    r.scenario.trim_start_matches("interop/"),
                    r.transports,
                    serde_json::to_value(r.outcome).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{} × {}: {} ({doc}){}",
            c.client,
            col_label(&c.server, &c.profile),
            c.verdict.as_str(),
            if failing.is_empty() { String::new() } else { format!("\n    {}", failing.join(" ")) }
        );
    }
    out
}
