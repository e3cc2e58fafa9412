//! The matrix as one self-contained HTML page, from the template `templates/matrix.html`
//! (minijinja). This module only turns a `Matrix` into the values the template shows.
use super::matrix_text::{anchor, col_label, columns, differences, find};
use crate::matrix::Matrix;
use serde::Serialize;

const TEMPLATE: &str = include_str!("templates/matrix.html");

#[derive(Serialize)]
struct Page {
    clients: usize,
    columns: Vec<String>,
    cell_count: usize,
    seconds: String,
    rows: Vec<Row>,
    diffs: Vec<Diff>,
    not_measured: Vec<NotMeasured>,
    cells: Vec<CellView>,
}

#[derive(Serialize)]
struct Row {
    client: String,
    cells: Vec<Option<GridCell>>,
}

#[derive(Serialize)]
struct GridCell {
    verdict: &'static str,
    diff: bool,
    reason: String,
    anchor: String,
    documented: Option<String>,
}

#[derive(Serialize)]
struct Diff {
    anchor: String,
    client: String,
    column: String,
    agreement: &'static str,
    documented: String,
    table: String,
    verdict: &'static str,
    reason: String,
}

#[derive(Serialize)]
struct NotMeasured {
    table: String,
    row: String,
    column: String,
    label: String,
}

#[derive(Serialize)]
struct CellView {
    anchor: String,
    diff: bool,
    client: String,
    column: String,
    verdict: &'static str,
    reason: String,
    scenarios: Vec<ScenarioView>,
}

#[derive(Serialize)]
struct ScenarioView {
    outcome: String,
    scenario: String,
    transports: String,
    duration_ms: u64,
    message: String,
    transcript: String,
}

fn esc(s: String) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(m: &Matrix) -> Page {
    let cols = columns(m);
    let disagrees = |c: &crate::matrix::Cell| matches!(c.agreement, Some(a) if a.is_disagreement());
    Page {
        clients: m.clients.len(),
        columns: cols.iter().map(|(s, p)| col_label(s, p)).collect(),
        cell_count: m.cells.len(),
        seconds: format!("{:.1}", m.wall_ms as f64 / 1000.0),
        rows: m
            .clients
            .iter()
            .map(|client| Row {
                client: client.clone(),
                cells: cols
                    .iter()
                    .map(|(s, p)| {
                        find(m, client, s, p).map(|c| GridCell {
                            verdict: c.verdict.as_str(),
                            diff: disagrees(c),
                            reason: c.reason.clone(),
                            anchor: anchor(c),
                            documented: c.documented.as_ref().map(|d| d.label()),
                        })
                    })
                    .collect(),
            })
            .collect(),
        diffs: differences(m)
            .into_iter()
            .filter_map(|c| {
                let d = c.documented.as_ref()?;
                Some(Diff {
                    anchor: anchor(c),
                    client: c.client.clone(),
                    column: col_label(&c.server, &c.profile),
                    agreement: c.agreement.map(|a| a.describe()).unwrap_or(""),
                    documented: d.label(),
                    table: d.table.clone(),
                    verdict: c.verdict.as_str(),
                    reason: c.reason.clone(),
                })
            })
            .collect(),
        not_measured: m
            .not_measured
            .iter()
            .map(|d| NotMeasured { table: d.table.clone(), row: d.row.clone(), column: d.column.clone(), label: d.label() })
            .collect(),
        cells: m
            .cells
            .iter()
            .map(|c| CellView {
                anchor: anchor(c),
                diff: disagrees(c),
                client: c.client.clone(),
                column: col_label(&c.server, &c.profile),
                verdict: c.verdict.as_str(),
                reason: c.reason.clone(),
                scenarios: c
                    .scenarios
                    .iter()
                    .map(|r| ScenarioView {
                        outcome: serde_json::to_value(r.outcome).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                        scenario: r.scenario.clone(),
                        transports: r.transports.clone(),
                        duration_ms: r.duration_ms,
                        message: r.message.clone(),
                        transcript: r.transcript.join("\n"),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The page; a template error (a bug of ours, caught by the tests) is shown in the page.
pub fn render(m: &Matrix) -> String {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("esc", esc);
    let rendered = env.add_template("matrix.html", TEMPLATE).and_then(|()| env.get_template("matrix.html")?.render(page(m)));
    match rendered {
        Ok(mut html) => {
            if !html.ends_with('\n') {
                html.push('\n');
            }
            html
        }
        Err(e) => format!("<!doctype html><p>siospec: the matrix page could not be rendered: {}</p>\n", esc(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use crate::matrix::compat::{Agreement, Documented};
    use crate::matrix::play::{Outcome, ScenarioResult};
    use crate::matrix::{Cell, CellVerdict, Matrix};

    fn cell(client: &str, server: &str, verdict: CellVerdict, doc_yes: bool, agreement: Agreement) -> Cell {
        Cell {
            client: client.into(),
            server: server.into(),
            profile: "default".into(),
            verdict,
            reason: "needs <b> & \"quotes\"".into(),
            documented: Some(Documented { table: "JS".into(), row: client.into(), column: server.into(), yes: doc_yes, footnote: None }),
            agreement: Some(agreement),
            known: None,
            scenarios: vec![ScenarioResult {
                scenario: "interop/connect".into(),
                transports: "default".into(),
                outcome: Outcome::Pass,
                message: String::new(),
                evidence: None,
                duration_ms: 12,
                transcript: vec!["client → GET <x>".into(), "server → 200".into()],
            }],
        }
    }

    fn sample() -> Matrix {
        Matrix {
            cells: vec![
                cell("c1", "s1", CellVerdict::Yes, false, Agreement::DocumentedNoWorksHere),
                cell("c1", "s2", CellVerdict::No, false, Agreement::Agrees),
                cell("c2", "s1", CellVerdict::Partial, true, Agreement::DocumentedYesFailsHere),
            ],
            clients: vec!["c1".into(), "c2".into()],
            servers: vec!["s1".into(), "s2".into()],
            wall_ms: 12_345,
            not_measured: vec![Documented { table: "JS".into(), row: "c9".into(), column: "s9".into(), yes: true, footnote: None }],
            unexpected: vec![],
        }
    }

    #[test]
    fn the_page_shows_every_part_escaped_and_loads_nothing() {
        let page = super::render(&sample());
        assert!(page.starts_with("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"), "{page}");
        assert!(page.contains("<p>2 clients × 2 server columns, 3 cells, measured in 12.3 s."), "{page}");
        assert!(page.contains("<td class=\"YES diff\" title=\"needs &lt;b&gt; &amp; &quot;quotes&quot;\"><a href=\"#c1--s1--default\">YES</a><span class=\"doc\">documented: NO</span></td>"), "{page}");
        assert!(page.contains("<td></td>"), "c2 × s2 was not measured: {page}");
        assert!(page.contains("<h2>Documented vs measured</h2><ul class=\"diffs\"><li><a href=\"#c1--s1--default\">c1 × s1</a>: documented NO, works here — documented NO (JS table), measured YES."), "{page}");
        assert!(page.contains("<li>JS table: c9 × s9 = YES</li>"), "{page}");
        assert!(page.contains("<pre>client → GET &lt;x&gt;\nserver → 200</pre>"), "{page}");
        assert!(page.ends_with("</details></body></html>\n"), "{page}");
        assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("<script"), "{page}");
    }
}
