//! Case variables: `{name}` templates and duration expressions.
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Vars {
    map: BTreeMap<String, String>,
}

impl Vars {
    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        self.map.insert(k.to_string(), v.into());
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(|s| s.as_str())
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.map.iter()
    }

    /// Replaces `{name}` by the variable's value. Braces that do not name a known variable
    /// stay as they are, because bodies are often JSON.
    pub fn render(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match after.find('}') {
                Some(end) if self.map.contains_key(&after[..end]) => {
                    out.push_str(&self.map[&after[..end]]);
                    rest = &after[end + 1..];
                }
                Some(end) if fill(&after[..end]).is_some() => {
                    out.push_str(&fill(&after[..end]).unwrap_or_default());
                    rest = &after[end + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Evaluates `"{pingInterval}+{pingTimeout}+100"`: a sum of numbers and variables.
    pub fn eval_ms(&self, expr: &str) -> Result<u64, String> {
        let rendered = self.render(expr);
        let mut total: u64 = 0;
        for term in rendered.split('+') {
            let t = term.trim();
            let n: u64 = t.parse().map_err(|_| format!("duration `{expr}`: term `{t}` is not a number or a known {{variable}}"))?;
            total = total.saturating_add(n);
        }
        Ok(total)
    }
}

/// Most a `{fill:…}` template may produce (hostile inputs are large, not unbounded).
pub const MAX_FILL: usize = 4 * 1024 * 1024;

/// `fill:N` → N × `a`; `fill:N:TEXT` → N × TEXT (TEXT holds no `}`): a 1 MB event name, a
/// namespace of 100 000 characters, JSON nested 10 000 deep (`{fill:10000:[}`).
fn fill(spec: &str) -> Option<String> {
    let rest = spec.strip_prefix("fill:")?;
    let (n, text) = match rest.split_once(':') {
        Some((n, t)) => (n, t),
        None => (rest, "a"),
    };
    let n: usize = n.parse().ok()?;
    if text.is_empty() || n.saturating_mul(text.len()) > MAX_FILL {
        return None;
    }
    Some(text.repeat(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_templates_repeat_text() {
        let v = Vars::default();
        assert_eq!(v.render("x{fill:3}y"), "xaaay");
        assert_eq!(v.render("{fill:2:[}{fill:2:]}"), "[[]]");
        assert_eq!(v.render("{fill:3:&a=1}"), "&a=1&a=1&a=1");
        // Not a fill: kept as written (bodies are often JSON).
        assert_eq!(v.render("{fill:x}"), "{fill:x}");
        assert_eq!(v.render(&format!("{{fill:{}}}", MAX_FILL + 1)), format!("{{fill:{}}}", MAX_FILL + 1));
    }
}
