//! What every control-port command returns: a result set of text columns and text rows (NULL allowed), which
//! each front end (PostgreSQL, MySQL, in-process) encodes in its own protocol.

/// Columns and rows, all text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows; each has one value per column (`None` is NULL).
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// An empty result set with these columns.
    pub fn new(columns: &[&str]) -> ResultSet {
        ResultSet { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }

    /// Appends a row of values.
    ///
    /// # Panics
    /// When the row has not one value per column (a bug in the command).
    pub fn push(&mut self, row: Vec<Option<String>>) {
        assert_eq!(row.len(), self.columns.len(), "one value per column");
        self.rows.push(row);
    }

    /// Appends a row of non-NULL values.
    pub fn push_text<I, S>(&mut self, row: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push(row.into_iter().map(|v| Some(v.into())).collect());
    }

    /// The one-row `status` / `detail` answer of a command that changes something.
    pub fn done(detail: impl Into<String>) -> ResultSet {
        let mut r = ResultSet::new(&["status", "detail"]);
        r.push_text(["ok".to_string(), detail.into()]);
        r
    }

    /// The value at (`row`, column named `column`), for tests and scripts.
    pub fn get(&self, row: usize, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.rows.get(row)?.get(i)?.as_deref()
    }
}

/// Formats a number of milliseconds with three decimals.
pub fn ms(value: f64) -> String {
    format!("{value:.3}")
}

/// Formats a percentage with two decimals.
pub fn pct(value: f64) -> String {
    format!("{value:.2}")
}
