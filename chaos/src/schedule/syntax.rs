//! YAML syntax errors and scalar type errors in words a schedule's author can act on.
//!
//! serde-saphyr deserializes while it parses, so a syntax error (an unclosed `{`) often
//! surfaces first as a type error somewhere after it (`invalid u64` for `3\nduration`, a
//! plain scalar that ran on into the next line). [`syntax_error`] therefore parses the text
//! as bare YAML first and reports the syntax error itself when there is one;
//! [`typed_message`] rewords the type errors serde-saphyr states without the value
//! (`invalid u64`), quoting the value and the key from the source text.

use serde_saphyr::Location;

/// A position and message for a schedule's YAML syntax error, or `None` when the text is
/// well-formed YAML (its errors are then about the schedule's shape, not its syntax).
pub fn syntax_error(text: &str) -> Option<(u64, u64, String)> {
    let error = serde_saphyr::from_str::<serde::de::IgnoredAny>(text).err()?;
    let location = error.location()?;
    let (line, column) = (location.line().max(1), location.column().max(1));
    let rendered = error.without_snippet().to_string();
    let plain = strip_position(rendered.lines().next().unwrap_or_default());
    Some((line, column, syntax_message(text, location, &plain)))
}

/// `message` without a trailing " at line L, column C", trimmed.
pub fn strip_position(message: &str) -> String {
    let message = message.trim();
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

fn syntax_message(text: &str, location: Location, plain: &str) -> String {
    let (line, column) = (location.line(), location.column());
    let found = token_at(text, line, column);
    if let Some(bracket) = plain.strip_prefix("unclosed bracket ") {
        let (open, close) = if bracket.contains('[') {
            ('[', ']')
        } else {
            ('{', '}')
        };
        return format!(
            "expected a `{close}` closing the `{open}` here, found the end of the file without one"
        );
    }
    for (what, open, close) in [("mapping", '{', '}'), ("sequence", '[', ']')] {
        if plain.starts_with(&format!(
            "while parsing a flow {what}, did not find expected"
        )) {
            let opened = match open_bracket_before(text, line, column, Some(open)) {
                Some((open_line, open_column)) if open_line < line => format!(
                    "the `{open}` opened at line {open_line}, column {open_column} (a `{close}` missing at the end of line {}?)",
                    line - 1
                ),
                Some((open_line, open_column)) => {
                    format!("the `{open}` opened at line {open_line}, column {open_column}")
                }
                None => format!("a `{open} ... {close}`"),
            };
            return format!("expected `,` or `{close}` inside {opened}, found {found}");
        }
    }
    if plain.starts_with("unclosed quote") {
        return "expected a closing quote for the quote opened here, found the end of the file without one".into();
    }
    if plain.starts_with("while parsing a block collection, did not find expected '-'") {
        return format!(
            "expected a `- ` list item or a key indented like the ones above, found {found} (check the indentation)"
        );
    }
    if plain.starts_with("while parsing a block mapping, did not find expected key") {
        return format!(
            "expected a key indented like the ones above, found {found} (check the indentation)"
        );
    }
    if plain.starts_with("mapping values are not allowed in this context") {
        return "expected one `key: value` per line, found a second `:` (quote a value that contains `: `)".into();
    }
    if plain.starts_with("tabs disallowed") {
        return "expected spaces for indentation, found a tab".into();
    }
    if let Some(rest) = plain.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("expected each key once, found `{key}` again");
    }
    // Inside a bracket left open on an earlier line, the error is most likely that bracket.
    if let Some((open_line, open_column, open)) = open_bracket_before_any(text, line, column)
        && open_line < line
    {
        let close = if open == '[' { ']' } else { '}' };
        return format!(
            "expected `,` or `{close}` inside the `{open}` opened at line {open_line}, column {open_column} (a `{close}` missing at the end of line {}?), found {found}",
            line - 1
        );
    }
    format!("expected well-formed YAML, found a syntax error: {plain}")
}

/// [`open_bracket_before`] for either kind of bracket, with the bracket.
fn open_bracket_before_any(text: &str, line: u64, column: u64) -> Option<(u64, u64, char)> {
    let stack = open_brackets(text, line, column);
    stack.last().map(|&(c, line, column)| (line, column, c))
}

/// Rewords a type error that serde-saphyr states without the value (`invalid u64`,
/// `expected string scalar`) using the source text at its position; `None` for others.
pub fn typed_message(text: &str, line: u64, column: u64, plain: &str) -> Option<String> {
    let found = token_at(text, line, column);
    let key = key_before(text, line, column)
        .map(|key| format!("`{key}` as "))
        .unwrap_or_default();
    let is_integer = plain
        .strip_prefix("invalid ")
        .is_some_and(|ty| matches!(ty, "u8" | "u16" | "u32" | "u64" | "usize"));
    if is_integer {
        return Some(format!(
            "expected {key}a whole number (0, 1, 2, ...), found {found}"
        ));
    }
    if plain == "expected string scalar" {
        return Some(format!(
            "expected {key}a single value, found {found} (a list or a mapping?)"
        ));
    }
    None
}

/// The chars of line `line` (1-based) from column `column` (1-based) on.
fn rest_of_line(text: &str, line: u64, column: u64) -> Option<String> {
    let text_line = text.lines().nth(line.checked_sub(1)? as usize)?;
    Some(
        text_line
            .chars()
            .skip(column.saturating_sub(1) as usize)
            .collect(),
    )
}

/// The token at a position, quoted for a message: up to the next `,`, bracket, comment or
/// end of line; "the end of the line" or "the end of the file" when there is none.
fn token_at(text: &str, line: u64, column: u64) -> String {
    let Some(rest) = rest_of_line(text, line, column) else {
        return "the end of the file".into();
    };
    let rest = rest.trim_start();
    let Some(first) = rest.chars().next() else {
        return "the end of the line".into();
    };
    if matches!(first, ':' | ',' | '{' | '}' | '[' | ']') {
        return format!("`{first}`");
    }
    let token: String = rest
        .chars()
        .take_while(|c| !matches!(c, ',' | '{' | '}' | '[' | ']' | '#' | ':'))
        .collect();
    format!("`{}`", token.trim())
}

/// The key whose value starts at a position: the last `word:` before it on its line.
fn key_before(text: &str, line: u64, column: u64) -> Option<String> {
    let text_line = text.lines().nth(line.checked_sub(1)? as usize)?;
    let before: String = text_line
        .chars()
        .take(column.saturating_sub(1) as usize)
        .collect();
    let before = before.trim_end().strip_suffix(':')?;
    let key: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Where the innermost still-open `open` bracket before a position was opened, by a
/// scan that skips quoted strings and comments and counts a bracket only where YAML
/// starts a flow collection (after a line start, `:`, `-`, `,` or another bracket).
fn open_bracket_before(
    text: &str,
    line: u64,
    column: u64,
    open: Option<char>,
) -> Option<(u64, u64)> {
    open_brackets(text, line, column)
        .into_iter()
        .rev()
        .find(|(c, _, _)| open.is_none_or(|open| *c == open))
        .map(|(_, line, column)| (line, column))
}

/// The brackets still open before a position, outermost first (see [`open_bracket_before`]).
fn open_brackets(text: &str, line: u64, column: u64) -> Vec<(char, u64, u64)> {
    let mut stack: Vec<(char, u64, u64)> = Vec::new();
    for (index, text_line) in text.lines().enumerate().take(line as usize) {
        let line_number = index as u64 + 1;
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        let mut last_significant: Option<char> = None;
        for (char_index, c) in text_line.chars().enumerate() {
            let column_number = char_index as u64 + 1;
            if line_number == line && column_number >= column {
                break;
            }
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '#' && previous.is_whitespace() => break,
                None if c == '"' || c == '\'' => quote = Some(c),
                None if (c == '{' || c == '[')
                    && matches!(last_significant, None | Some(':' | '-' | ',' | '[' | '{')) =>
                {
                    stack.push((c, line_number, column_number));
                }
                None if (c == '}' || c == ']') && !stack.is_empty() => {
                    stack.pop();
                }
                None => {}
            }
            if !c.is_whitespace() {
                last_significant = Some(c);
            }
            previous = c;
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str =
        "name: t\nsystem: { kind: raft, nodes: 5 }\nduration: 60s\nworkload: { kind: register }\n";

    fn syntax(text: &str) -> String {
        let (line, column, message) = syntax_error(text).expect("a syntax error");
        format!("{line}:{column}: {message}")
    }

    #[test]
    fn well_formed_yaml_has_no_syntax_error() {
        assert_eq!(syntax_error(HEAD), None);
    }

    #[test]
    fn a_flow_mapping_left_open_names_where_it_was_opened() {
        let text = HEAD.replace("nodes: 5 }", "nodes: 5");
        assert_eq!(
            syntax(&text),
            "3:9: expected `,` or `}` inside the `{` opened at line 2, column 9 (a `}` missing at the end of line 2?), found `:`"
        );
    }

    #[test]
    fn a_bracket_open_at_the_end_of_the_file() {
        let text = format!("{HEAD}checks: [linearizable\n");
        assert_eq!(
            syntax(&text),
            "5:9: expected a `]` closing the `[` here, found the end of the file without one"
        );
    }

    #[test]
    fn indentation_tabs_quotes_and_duplicate_keys() {
        assert_eq!(
            syntax(&format!("{HEAD}nemesis:\n  - at: 5s\n   kill: n1\n")),
            "7:4: expected a `- ` list item or a key indented like the ones above, found `kill` (check the indentation)"
        );
        assert_eq!(
            syntax(&format!("{HEAD}nemesis:\n\t- at: 5s\n")),
            "6:2: expected spaces for indentation, found a tab"
        );
        assert_eq!(
            syntax(&format!("{HEAD}nemesis:\n  - at: \"5s\n")),
            "6:9: expected a closing quote for the quote opened here, found the end of the file without one"
        );
        assert_eq!(
            syntax(&format!("{HEAD}seed: 1\nseed: 2\n")),
            "6:1: expected each key once, found `seed` again"
        );
    }

    #[test]
    fn integer_errors_quote_the_key_and_the_value() {
        let text = HEAD.replace("nodes: 5", "nodes: -5");
        assert_eq!(
            typed_message(&text, 2, 30, "invalid u64").as_deref(),
            Some("expected `nodes` as a whole number (0, 1, 2, ...), found `-5`")
        );
        assert_eq!(typed_message(&text, 2, 30, "something else"), None);
    }

    #[test]
    fn a_sequence_left_open_before_the_next_key() {
        let text = format!("{HEAD}nemesis:\n  - at: 5s\n    partition: [[n1], [n2]\n    for: 3s\n");
        assert_eq!(
            syntax(&text),
            "8:8: expected `,` or `]` inside the `[` opened at line 7, column 16 (a `]` missing at the end of line 7?), found `:`"
        );
    }
}
