//! HTTP header fields compared the way HTTP defines them (RFC 9110), never as raw strings:
//!
//! - field **names** are case-insensitive (section 5.1), and a field sent on several lines is
//!   one comma-separated list (section 5.3);
//! - **media types** (`Content-Type`, section 8.3.1): type and subtype are case-insensitive,
//!   parameters are compared only when the expected value gives them (parameter names
//!   case-insensitive, `charset` values too, section 8.3.2; whitespace around `;` and quoted
//!   values as written), so `application/json;charset=utf-8` is an `application/json`;
//! - **token lists** (`Connection`, `Upgrade`, `Vary`, the CORS lists, ..., section 5.6.1):
//!   the expected value's elements must each be in the actual list, case-insensitively, in
//!   any order, among others (`Connection: keep-alive, Upgrade` contains `upgrade`);
//! - anything else (`Access-Control-Allow-Origin`, ...) must equal the expected value once
//!   the optional whitespace around it is removed (section 5.5).
//!
//! Used by every place that checks a header: server suites (`http` expectations, websocket
//! `response_headers`), client suites (mock `expect_request` headers), and the harness's own
//! decisions (is this request a websocket upgrade?).

/// How a field's value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    MediaType,
    TokenList,
    Exact,
}

/// Fields whose value is a comma-separated list of case-insensitive tokens (or of field
/// names / methods, which CORS compares the same way for our purposes).
const TOKEN_LISTS: &[&str] = &[
    "connection",
    "upgrade",
    "vary",
    "transfer-encoding",
    "content-encoding",
    "te",
    "trailer",
    "allow",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-expose-headers",
    "access-control-request-headers",
    "sec-websocket-protocol",
    "cache-control",
];

pub fn kind_of(name: &str) -> FieldKind {
    let n = name.trim().to_ascii_lowercase();
    if n == "content-type" {
        FieldKind::MediaType
    } else if TOKEN_LISTS.contains(&n.as_str()) {
        FieldKind::TokenList
    } else {
        FieldKind::Exact
    }
}

/// The value of field `name` (any case), the lines of a repeated field joined by `, `
/// (RFC 9110 section 5.3); None when absent.
pub fn get(headers: &[(String, String)], name: &str) -> Option<String> {
    let vals: Vec<&str> = headers.iter().filter(|(k, _)| k.trim().eq_ignore_ascii_case(name.trim())).map(|(_, v)| v.trim()).collect();
    if vals.is_empty() {
        None
    } else {
        Some(vals.join(", "))
    }
}

/// A parsed media type: `type/subtype` lower-cased, then its parameters (names lower-cased,
/// values unquoted, as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub essence: String,
    pub params: Vec<(String, String)>,
}

pub fn parse_media_type(s: &str) -> Option<MediaType> {
    let mut parts = s.split(';');
    let essence = parts.next()?.trim().to_ascii_lowercase();
    let (t, sub) = essence.split_once('/')?;
    if t.is_empty() || sub.is_empty() || t.contains(char::is_whitespace) || sub.contains(char::is_whitespace) {
        return None;
    }
    let mut params = Vec::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
        params.push((k.trim().to_ascii_lowercase(), v.to_string()));
    }
    Some(MediaType { essence, params })
}

/// `actual` is the media type `expected` names: same type/subtype, and every parameter the
/// expected value gives present with the same value (`charset` case-insensitively).
pub fn media_type_matches(expected: &str, actual: &str) -> bool {
    let (Some(want), Some(got)) = (parse_media_type(expected), parse_media_type(actual)) else {
        return expected.trim() == actual.trim();
    };
    want.essence == got.essence
        && want
            .params
            .iter()
            .all(|(k, v)| got.params.iter().any(|(gk, gv)| gk == k && if k == "charset" { gv.eq_ignore_ascii_case(v) } else { gv == v }))
}

/// The elements of a comma-separated list, trimmed, empty ones dropped (RFC 9110 section 5.6.1).
pub fn tokens(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// The list holds `token`, case-insensitively.
pub fn has_token(list: &str, token: &str) -> bool {
    tokens(list).any(|t| t.eq_ignore_ascii_case(token.trim()))
}

/// Every element of `expected` is in the `actual` list.
pub fn token_list_contains(expected: &str, actual: &str) -> bool {
    tokens(expected).all(|t| has_token(actual, t))
}

/// Whether `actual` (the field's value, lines joined) satisfies the `expected` value of field
/// `name`; Err says how it was compared, for the failure message.
pub fn value_matches(name: &str, expected: &str, actual: &str) -> Result<(), String> {
    match kind_of(name) {
        FieldKind::MediaType if media_type_matches(expected, actual) => Ok(()),
        FieldKind::MediaType => Err(format!(
            "expected the media type `{}` (type/subtype case-insensitive; parameters only those given), got `{}`",
            expected.trim(),
            actual.trim()
        )),
        FieldKind::TokenList if token_list_contains(expected, actual) => Ok(()),
        FieldKind::TokenList => Err(format!(
            "expected the list to contain `{}` (elements case-insensitive, any order), got `{}`",
            expected.trim(),
            actual.trim()
        )),
        FieldKind::Exact if expected.trim() == actual.trim() => Ok(()),
        FieldKind::Exact => Err(format!("expected `{}`, got `{}`", expected.trim(), actual.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn media_types_compare_type_and_subtype_and_only_the_given_parameters() {
        assert!(media_type_matches("application/json", "application/json;charset=utf-8"));
        assert!(media_type_matches("application/json", "Application/JSON ; charset=UTF-8"));
        assert!(media_type_matches("text/plain; charset=UTF-8", "text/plain;charset=utf-8"));
        assert!(media_type_matches("text/plain; charset=UTF-8", "text/plain; foo=bar; charset=\"utf-8\""));
        assert!(media_type_matches("application/octet-stream", "application/octet-stream"));
        assert!(!media_type_matches("text/plain; charset=UTF-8", "text/plain"), "a parameter the pattern gives must be there");
        assert!(!media_type_matches("text/plain; charset=UTF-8", "text/plain; charset=ISO-8859-1"));
        assert!(!media_type_matches("application/json", "text/json"));
        assert!(!media_type_matches("application/json", "application/json-seq"));
        assert!(!media_type_matches("application/json", "text/html"));
        assert!(value_matches("Content-Type", "application/json", "application/json;charset=utf-8").is_ok());
        let e = value_matches("content-type", "application/json", "text/html").unwrap_err();
        assert!(e.contains("media type"), "{e}");
    }

    #[test]
    fn token_lists_are_case_insensitive_members_in_any_order() {
        assert!(value_matches("Connection", "upgrade", "keep-alive, Upgrade").is_ok());
        assert!(value_matches("connection", "Upgrade", "Upgrade").is_ok());
        assert!(value_matches("Upgrade", "websocket", "WebSocket").is_ok());
        assert!(value_matches("access-control-allow-headers", "x-custom", "Content-Type, X-Custom").is_ok());
        assert!(value_matches("access-control-allow-methods", "GET,POST", "POST, OPTIONS, GET").is_ok());
        assert!(value_matches("vary", "origin", "Accept-Encoding,Origin").is_ok());
        assert!(value_matches("connection", "upgrade", "keep-alive").is_err());
        assert!(value_matches("connection", "upgrade", "upgraded").is_err(), "tokens, not substrings");
        assert!(has_token("keep-alive, Upgrade", "UPGRADE"));
        assert!(!has_token("", "upgrade"));
    }

    #[test]
    fn other_values_are_exact_after_trimming() {
        assert!(value_matches("Access-Control-Allow-Origin", "http://example.com", " http://example.com ").is_ok());
        assert!(value_matches("access-control-allow-origin", "*", "*").is_ok());
        assert!(value_matches("access-control-allow-origin", "http://example.com", "http://example.org").is_err());
        assert!(value_matches("access-control-allow-credentials", "true", "True").is_err());
    }

    #[test]
    fn names_are_case_insensitive_and_repeated_fields_are_one_list() {
        let hs = h(&[("Content-Type", "application/json"), ("vary", "Origin"), ("VARY", "Accept-Encoding")]);
        assert_eq!(get(&hs, "content-type").as_deref(), Some("application/json"));
        assert_eq!(get(&hs, "CONTENT-TYPE").as_deref(), Some("application/json"));
        assert_eq!(get(&hs, "Vary").as_deref(), Some("Origin, Accept-Encoding"));
        assert!(value_matches("vary", "accept-encoding", &get(&hs, "vary").unwrap()).is_ok());
        assert_eq!(get(&hs, "x-missing"), None);
    }
}
