//! The standard fixture (`fixtures/standard.toml`): the handlers and option defaults every
//! server checked by siospec serves, and the extra handlers only siospec's own drivers have.
//!
//! One definition: `FixtureSpec` takes its defaults from here, the loader checks each case's
//! `handlers` against it, a `--url` target is judged by it, and README.md's "Testing your own
//! server" list is generated from it (`readme_section`, checked by `tests/standard_fixture.rs`).
use super::model::{FixtureSpec, Layer};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The file, compiled in: the definition belongs to this build of siospec.
pub const SOURCE: &str = include_str!("../../fixtures/standard.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standard {
    pub path: BTreeMap<String, String>,
    pub namespaces: Namespaces,
    pub option: Vec<OptionDef>,
    pub implies: Implies,
    pub handler: Vec<Handler>,
    pub extra: Vec<Handler>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespaces {
    pub served: Vec<String>,
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    pub name: String,
    pub value: Value,
    pub doc: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Implies {
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handler {
    pub name: String,
    pub layer: Layer,
    pub on: String,
    pub does: String,
    /// `send-me`: payload name → the arguments of `sent`.
    #[serde(default)]
    pub payloads: Option<serde_json::Map<String, Value>>,
}

/// Parses the standard fixture's text (the compiled-in one is `standard()`).
pub fn parse(text: &str) -> Result<Standard, String> {
    let s: Standard = toml::from_str(text).map_err(|e| format!("fixtures/standard.toml: {e}"))?;
    let known = FixtureSpec::OPTION_NAMES;
    for o in &s.option {
        if !known.contains(&o.name.as_str()) {
            return Err(format!("fixtures/standard.toml: option `{}` is not a fixture option (known: {})", o.name, known.join(", ")));
        }
    }
    for n in ["pingInterval", "pingTimeout", "maxHttpBufferSize", "cors", "connectTimeout", "allowEIO3", "transports"] {
        if !s.option.iter().any(|o| o.name == n) {
            return Err(format!("fixtures/standard.toml: option `{n}` has no default"));
        }
    }
    for layer in [Layer::EngineIo, Layer::SocketIo] {
        if !s.path.contains_key(layer.as_str()) {
            return Err(format!("fixtures/standard.toml: [path] has no `{}`", layer.as_str()));
        }
    }
    let mut names = std::collections::HashSet::new();
    for h in s.handler.iter().chain(&s.extra) {
        if !names.insert(h.name.as_str()) {
            return Err(format!("fixtures/standard.toml: handler `{}` is defined twice", h.name));
        }
    }
    Ok(s)
}

/// The standard fixture of this build. The file is part of the source tree and parsed by a
/// unit test, so a broken one never reaches a user.
pub fn standard() -> &'static Standard {
    static S: OnceLock<Standard> = OnceLock::new();
    S.get_or_init(|| parse(SOURCE).unwrap_or_else(|e| panic!("{e}")))
}

impl Standard {
    pub fn option(&self, name: &str) -> Option<&Value> {
        self.option.iter().find(|o| o.name == name).map(|o| &o.value)
    }
    fn u64_of(&self, name: &str) -> u64 {
        self.option(name).and_then(Value::as_u64).unwrap_or_else(|| panic!("fixtures/standard.toml: `{name}` must be a number"))
    }
    pub fn ping_interval(&self) -> u64 {
        self.u64_of("pingInterval")
    }
    pub fn ping_timeout(&self) -> u64 {
        self.u64_of("pingTimeout")
    }
    pub fn max_http_buffer_size(&self) -> u64 {
        self.u64_of("maxHttpBufferSize")
    }
    pub fn connect_timeout(&self) -> u64 {
        self.u64_of("connectTimeout")
    }
    pub fn cors(&self) -> &str {
        self.option("cors").and_then(Value::as_str).unwrap_or("*")
    }
    pub fn allow_eio3(&self) -> bool {
        self.option("allowEIO3").and_then(Value::as_bool).unwrap_or(false)
    }
    pub fn path(&self, layer: Layer) -> &str {
        self.path.get(layer.as_str()).map(String::as_str).unwrap_or_else(|| layer.default_path())
    }
    /// Whether a server started with the standard fixture has this capability.
    pub fn implies(&self, capability: &str) -> bool {
        self.implies.capabilities.iter().any(|c| c == capability)
    }
    pub fn is_standard_handler(&self, name: &str) -> bool {
        self.handler.iter().any(|h| h.name == name)
    }
    pub fn is_extra_handler(&self, name: &str) -> bool {
        self.extra.iter().any(|h| h.name == name)
    }
    pub fn handler_names(&self) -> Vec<&str> {
        self.handler.iter().chain(&self.extra).map(|h| h.name.as_str()).collect()
    }
    /// `send-me`'s payloads: name → the arguments of `sent`.
    pub fn send_me_payload(&self, name: &str) -> Option<&Value> {
        self.extra.iter().find(|h| h.name == "send-me")?.payloads.as_ref()?.get(name)
    }

    /// The reason a server started by hand cannot serve these handlers, if it cannot.
    pub fn missing_handler(&self, handlers: &[String]) -> Option<String> {
        handlers.iter().find(|h| !self.is_standard_handler(h)).map(|h| {
            format!("needs handler `{h}`, which the standard fixture does not have (only siospec's own drivers serve it; fixtures/standard.toml)")
        })
    }

    /// The options a case sets that differ from the standard fixture, with the case's and the
    /// standard's value: empty when a server started by hand can run the case.
    pub fn differences(&self, f: &FixtureSpec, layer: Layer) -> Vec<String> {
        let asked = serde_json::to_value(f).unwrap_or(Value::Null);
        let Some(asked) = asked.as_object() else { return Vec::new() };
        let mut out = Vec::new();
        for (name, v) in asked {
            let same = match name.as_str() {
                "path" => v.as_str() == Some(self.path(layer)),
                "transports" => {
                    let set = |x: &Value| {
                        let mut t: Vec<String> =
                            x.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default();
                        t.sort();
                        t.dedup();
                        t
                    };
                    self.option("transports").is_some_and(|d| set(d) == set(v))
                }
                other => self.option(other) == Some(v),
            };
            if !same {
                out.push(match (name.as_str(), self.option(name)) {
                    ("path", _) => format!("path = {v} (the standard fixture has {})", self.path(layer)),
                    (_, Some(d)) => format!("{name} = {v} (the standard fixture has {d})"),
                    (_, None) => format!("{name} = {v} (not part of the standard fixture)"),
                });
            }
        }
        out
    }

    /// README.md's list of what a server started by hand must serve (between the
    /// `standard-fixture` markers of "Testing your own server").
    pub fn readme_section(&self) -> String {
        let list = |v: &[String]| v.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" and ");
        let mut s = String::new();
        s.push_str("<!-- standard-fixture:begin (generated from fixtures/standard.toml; SIOSPEC_UPDATE_README=1 cargo test --test standard_fixture) -->\n");
        let eio: Vec<&Handler> = self.handler.iter().filter(|h| h.layer == Layer::EngineIo).collect();
        let sio: Vec<&Handler> = self.handler.iter().filter(|h| h.layer == Layer::SocketIo).collect();
        s.push_str(&format!("- Engine.IO level, on `{}`: ", self.path(Layer::EngineIo)));
        s.push_str(&eio.iter().map(|h| format!("on {}, {}", h.on, h.does)).collect::<Vec<_>>().join("; "));
        s.push_str(".\n");
        s.push_str(&format!("- Socket.IO level, on `{}`, namespaces {}: ", self.path(Layer::SocketIo), list(&self.namespaces.served)));
        s.push_str(&sio.iter().map(|h| format!("on {}, {}", h.on, h.does)).collect::<Vec<_>>().join("; "));
        s.push_str(&format!("; {} is not a namespace (CONNECT refused).\n", list(&self.namespaces.refused)));
        s.push_str("- Options: ");
        s.push_str(&self.option.iter().map(|o| o.doc.clone()).collect::<Vec<_>>().join(", "));
        s.push_str(".\n\n");
        s.push_str("Only siospec's own drivers also serve these handlers; cases that need one say so (`handlers = [...]`) and are `unsupported` against a server started by hand:\n\n");
        for h in &self.extra {
            s.push_str(&format!("- `{}`: on {}, {}", h.name, h.on, h.does));
            if let Some(p) = &h.payloads {
                let shown: Vec<String> = p.iter().map(|(k, v)| format!("`{k}` → `{v}`")).collect();
                s.push_str(&format!(" ({})", shown.join(", ")));
            }
            s.push_str(".\n");
        }
        s.push_str("<!-- standard-fixture:end -->\n");
        s
    }
}

impl FixtureSpec {
    /// The option names a case's `fixture = {…}` may set (camelCase, as in the files).
    pub const OPTION_NAMES: &'static [&'static str] = &[
        "path",
        "pingInterval",
        "pingTimeout",
        "maxHttpBufferSize",
        "allowEIO3",
        "cors",
        "transports",
        "allowRequest",
        "connectTimeout",
        "connectionStateRecovery",
    ];

    pub fn max_http_buffer_size_or_default(&self) -> u64 {
        self.max_http_buffer_size.unwrap_or_else(|| standard().max_http_buffer_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_file_parses() {
        let s = parse(SOURCE).unwrap();
        assert_eq!(s.ping_interval(), 300);
        assert_eq!(s.ping_timeout(), 200);
        assert_eq!(s.max_http_buffer_size(), 1_000_000);
        assert_eq!(s.connect_timeout(), 1000);
        assert_eq!(s.cors(), "*");
        assert!(!s.allow_eio3());
        assert!(s.is_standard_handler("message-with-ack"));
        assert!(s.is_extra_handler("close-me"));
        assert!(s.send_me_payload("unicode").is_some());
    }

    #[test]
    fn options_equal_to_the_defaults_are_no_difference() {
        let s = standard();
        let f = FixtureSpec { connect_timeout: Some(1000), allow_eio3: Some(false), ..Default::default() };
        assert!(s.differences(&f, Layer::SocketIo).is_empty());
        let f = FixtureSpec { path: Some("/engine.io/".into()), cors: Some("*".into()), ..Default::default() };
        assert!(s.differences(&f, Layer::EngineIo).is_empty());
        let f = FixtureSpec { max_http_buffer_size: Some(1000), ..Default::default() };
        assert_eq!(s.differences(&f, Layer::EngineIo), ["maxHttpBufferSize = 1000 (the standard fixture has 1000000)"]);
        let f = FixtureSpec { path: Some("/x/".into()), allow_request: Some("deny".into()), ..Default::default() };
        let d = s.differences(&f, Layer::EngineIo);
        assert!(d.iter().any(|l| l.contains("/engine.io/")) && d.iter().any(|l| l.contains("not part")), "{d:?}");
    }
}
