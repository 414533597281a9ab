//! URL pieces to paths inside the store, refusing everything that could leave it.
//!
//! Safe by construction, in three layers: the raw URL path is refused outright when it
//! holds a `%` (no encoded dots or separators are ever decoded), a backslash, an empty
//! segment or a `.`/`..` segment; every segment used as a file name must be a plain name
//! (`[A-Za-z0-9._-]`, not starting with a dot); and the joined path is canonicalized
//! (symlinks resolved) and must still lie under the canonical store root, else 404.

use std::path::{Path, PathBuf};

/// Why a path was refused: a malformed request (400) or nothing to show (404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    BadRequest,
    NotFound,
}

/// The longest name segment accepted.
pub const SEGMENT_BYTES_MAX: usize = 255;

/// A plain file name: ASCII letters, digits, `.`, `_`, `-`; not empty, not starting with `.`.
pub fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= SEGMENT_BYTES_MAX
        && !segment.starts_with('.')
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Splits a raw (undecoded) URL path into segments, refusing anything suspicious.
pub fn split_url_path(raw: &str) -> Result<Vec<&str>, PathRefusal> {
    if !raw.starts_with('/') || raw.contains('%') || raw.contains('\\') || raw.contains('\0') {
        return Err(PathRefusal::BadRequest);
    }
    let trimmed = raw.trim_start_matches('/');
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(PathRefusal::BadRequest);
    }
    Ok(segments)
}

/// `root/seg1/seg2/...`, canonicalized and checked to be inside `root` (itself canonical).
pub fn resolve_in_store(root: &Path, segments: &[&str]) -> Result<PathBuf, PathRefusal> {
    if segments.iter().any(|s| !plain_segment(s)) {
        return Err(PathRefusal::BadRequest);
    }
    let joined = segments.iter().fold(root.to_path_buf(), |p, s| p.join(s));
    let canonical = std::fs::canonicalize(&joined).map_err(|_| PathRefusal::NotFound)?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        Err(PathRefusal::NotFound)
    }
}

/// Decodes one `application/x-www-form-urlencoded` query value (`+` is a space). Invalid
/// escapes are kept as written; the result is only ever compared and escaped, never a path.
pub fn decode_query_value(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value for a link.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string's pairs, decoded, at most `PAIRS_MAX` of them.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    const PAIRS_MAX: usize = 32;
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .take(PAIRS_MAX)
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_query_value(k), decode_query_value(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_encodings_are_refused() {
        for bad in [
            "/../etc",
            "/run/a/../../x",
            "/run/%2e%2e/x",
            "/run/a%2Fb",
            "/run/a\\b",
            "run",
            "/a//b",
            "/./a",
        ] {
            assert_eq!(split_url_path(bad), Err(PathRefusal::BadRequest), "{bad}");
        }
        assert_eq!(split_url_path("/").unwrap(), Vec::<&str>::new());
        assert_eq!(split_url_path("/run/a/b/").unwrap(), vec!["run", "a", "b"]);
        assert!(!plain_segment(".hidden"));
        assert!(!plain_segment("a b"));
        assert!(plain_segment("20250101T000000-seed4"));
    }

    #[test]
    fn symlinks_out_of_the_store_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join("s")).unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("s/link")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(
            resolve_in_store(&root, &["s", "link"]),
            Err(PathRefusal::NotFound)
        );
        assert!(resolve_in_store(&root, &["s"]).is_ok());
    }

    #[test]
    fn query_values_round_trip() {
        assert_eq!(decode_query_value("a+b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(
            decode_query_value(&encode_query_value("x y&<z>")),
            "x y&<z>"
        );
        assert_eq!(
            query_pairs(Some("verdict=invalid&name=a%20b&page")),
            vec![
                ("verdict".into(), "invalid".into()),
                ("name".into(), "a b".into()),
                ("page".into(), String::new())
            ]
        );
    }
}
