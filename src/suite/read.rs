//! Reading a suite file: its TOML into the step vocabulary of the role its header names,
//! with errors located at a line of the file.
use super::client_steps::ClientStep;
use super::load::SuiteError;
use super::model::{Role, SuiteFile, SuiteHeader};
use super::steps::ServerStep;
use super::vocabulary::{self, Steps};
use std::path::Path;

/// The file's header first, for its role; then the whole file, its steps in that role's
/// vocabulary.
pub(super) fn read(file: &Path, text: &str) -> Result<SuiteFile<Steps>, SuiteError> {
    let role = parse::<HeaderOnly>(file, text, None)?.suite.role;
    Ok(match role {
        Role::Server => steps_as(parse::<SuiteFile<Vec<ServerStep>>>(file, text, Some(role))?, Steps::Server),
        Role::Client => steps_as(parse::<SuiteFile<Vec<ClientStep>>>(file, text, Some(role))?, Steps::Client),
    })
}

/// The header alone: it names the role, hence the vocabulary the steps are read in.
#[derive(serde::Deserialize)]
struct HeaderOnly {
    suite: SuiteHeader,
}

fn steps_as<S>(f: SuiteFile<S>, steps: impl Fn(S) -> Steps) -> SuiteFile<Steps> {
    SuiteFile { suite: f.suite, cases: f.cases.into_iter().map(|c| c.map_steps(&steps)).collect() }
}

/// Reads the file as `T`; a syntax or type error names its line. With the suite's `role`, a
/// `do` outside its vocabulary names its case and step, and whether it is the other role's.
fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str, role: Option<Role>) -> Result<T, SuiteError> {
    toml::from_str(text).map_err(|e| {
        let (mut line, mut col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        let mut message = e.message().trim().to_string();
        // An unknown field is reported on its table (a step's `[[case.step]]`): point at the key.
        if let Some(name) = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            if let Some(i) = text.lines().enumerate().skip(line.saturating_sub(1)).find(|(_, l)| is_key(l, name)).map(|(i, _)| i) {
                (line, col) = (i + 1, 1);
            }
        }
        // An unknown `do` is reported on its step's table: point at the `do` line.
        if let Some(kind) = message.strip_prefix("unknown variant `").and_then(|r| r.split('`').next()) {
            let step =
                text.lines().enumerate().skip(line.saturating_sub(1)).take_while(|(i, l)| *i < line || !l.trim_start().starts_with("[["));
            let tag = format!("\"{kind}\"");
            if let Some(i) = step.filter(|(_, l)| is_key(l, "do") && l.contains(&tag)).map(|(i, _)| i).next() {
                (line, col) = (i + 1, 1);
                if let Some(role) = role {
                    message = unknown_step(text, line, kind, role);
                }
            }
        }
        SuiteError::Syntax { file: file.to_path_buf(), line, col, message }
    })
}

/// The message for a `do` the suite's role does not have, at `line`, naming its case and
/// step number: a step of the other role is called that, anything else is unknown.
fn unknown_step(text: &str, line: usize, kind: &str, role: Role) -> String {
    let before: Vec<&str> = text.lines().take(line).collect();
    let case_at = before.iter().rposition(|l| l.trim() == "[[case]]").unwrap_or(0);
    let id = before[case_at..].iter().find(|l| is_key(l, "id")).and_then(|l| l.split('"').nth(1));
    let number = before[case_at..].iter().filter(|l| l.trim() == "[[case.step]]").count();
    let place = match id {
        Some(id) => format!("case `{id}`, step {number}: "),
        None => String::new(),
    };
    if vocabulary::kinds(role.other()).contains(&kind) {
        return format!("{place}step `{kind}` is for {} suites; this is a {} suite (`[suite] role`)", role.other().as_str(), role.as_str());
    }
    format!("{place}unknown step `{kind}`; {} suites have {}", role.as_str(), vocabulary::kinds(role).join(", "))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let upto = &text[..offset.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let col = upto.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// Line of the `id = "…"` entry of a case, so semantic errors point somewhere useful.
pub(super) fn line_of_id(text: &str, id: &str) -> usize {
    let needle = format!("\"{id}\"");
    text.lines().position(|l| l.trim_start().starts_with("id") && l.contains(&needle)).map(|i| i + 1).unwrap_or(1)
}

/// Line of a case's field, of its `step`-th `[[case.step]]` (0-based), or of a field inside
/// that step, counted from the case's `id` line up to the next `[[case]]`.
pub(super) fn line_of(text: &str, id: &str, step: Option<usize>, field: Option<&str>) -> usize {
    let id_line = line_of_id(text, id);
    let lines: Vec<&str> = text.lines().collect();
    let case_end = (id_line..lines.len()).find(|&i| lines[i].trim() == "[[case]]").unwrap_or(lines.len());
    let Some(n) = step else {
        let found = field.and_then(|f| (id_line - 1..case_end).find(|&i| is_key(lines[i], f)));
        return found.map(|i| i + 1).unwrap_or(id_line);
    };
    let Some(start) = (id_line..case_end).filter(|&i| lines[i].trim() == "[[case.step]]").nth(n) else { return id_line };
    let end = (start + 1..case_end).find(|&i| lines[i].trim_start().starts_with("[[")).unwrap_or(case_end);
    // The field as a key of the step, else inside an inline table (`packets = [{ binary = … }]`).
    let inline = |l: &str, f: &str| {
        l.match_indices(f).any(|(at, _)| {
            let before = l[..at].chars().next_back();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && l[at + f.len()..].trim_start().starts_with('=')
        })
    };
    let found =
        field.and_then(|f| (start + 1..end).find(|&i| is_key(lines[i], f)).or_else(|| (start + 1..end).find(|&i| inline(lines[i], f))));
    found.unwrap_or(start) + 1
}

/// `line` sets the key `name` (`name = …`).
fn is_key(line: &str, name: &str) -> bool {
    line.trim_start().strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('='))
}
