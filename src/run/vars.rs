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
