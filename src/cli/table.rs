//! Plain-text tables for people: a header, a rule, aligned columns; numbers right-aligned.
//!
//! Deliberately not here: colour, terminal width detection, wrapping (long cells are shown whole).

/// Renders `rows` under `headers`. `None` cells show as empty.
pub fn render(headers: &[&str], rows: &[Vec<Option<String>>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.as_deref().map_or(0, |c| c.chars().count()));
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            let mut cells = rows.iter().filter_map(|r| r.get(i).and_then(|c| c.as_deref()));
            let mut any = false;
            let all = cells.all(|c| {
                any = true;
                c.parse::<f64>().is_ok()
            });
            any && all
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if numeric[i] { format!("{}{c}", " ".repeat(pad)) } else { format!("{c}{}", " ".repeat(pad)) }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.push('\n');
    for row in rows {
        let cells: Vec<&str> =
            (0..headers.len()).map(|i| row.get(i).and_then(|c| c.as_deref()).unwrap_or("")).collect();
        out.push_str(&line(cells));
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no rows)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn aligns_text_left_and_numbers_right() {
        let rows = vec![
            vec![Some("postgres".to_string()), Some("5".to_string())],
            vec![Some("mysql".to_string()), None],
            vec![Some("x".to_string()), Some("12.5".to_string())],
        ];
        let out = render(&["engine", "rows"], &rows);
        assert_eq!(out, "engine    rows\n--------  ----\npostgres     5\nmysql\nx         12.5\n");
        assert!(render(&["a"], &[]).ends_with("(no rows)\n"));
    }
}
