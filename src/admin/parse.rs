//! The control port's command language: case-insensitive SQL-like commands with an optional trailing `;`.
//! Pure: text in, [`Command`] or a [`ParseError`] out, so every form is table-tested.
//!
//! Deliberately not here: checking that a named server, client or digest exists (the commands do that
//! against live state).

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `SHOW HELP`
    ShowHelp,
    /// `SHOW VERSION`
    ShowVersion,
    /// `SHOW CONFIG`
    ShowConfig,
    /// `SHOW POOLS`
    ShowPools,
    /// `SHOW SERVERS`
    ShowServers,
    /// `SHOW CLIENTS`
    ShowClients,
    /// `SHOW STATS`
    ShowStats,
    /// `SHOW QUERIES [ORDER BY <column> [ASC|DESC]] [LIMIT <n>]`
    ShowQueries {
        /// Sort column and whether descending.
        order: Option<(String, bool)>,
        /// Most rows.
        limit: Option<usize>,
    },
    /// `SHOW SLOW QUERIES [LIMIT <n>]`
    ShowSlowQueries {
        /// Most rows.
        limit: Option<usize>,
    },
    /// `SHOW SUGGESTIONS`
    ShowSuggestions,
    /// `SHOW TABLES STATUS`
    ShowTablesStatus,
    /// `SET <key> = <value>`
    Set {
        /// Dotted key, lower-cased.
        key: String,
        /// Value as written (quotes removed).
        value: String,
    },
    /// `RELOAD`
    Reload,
    /// `PAUSE [<pool>]`
    Pause(Option<String>),
    /// `RESUME [<pool>]`
    Resume(Option<String>),
    /// `KILL CLIENT <id>`
    KillClient(u64),
    /// `BAN SERVER <name>`
    BanServer(String),
    /// `UNBAN SERVER <name>`
    UnbanServer(String),
    /// `CLEANUP CONNECTIONS`
    CleanupConnections,
    /// `EXPLAIN DIGEST <id>`
    ExplainDigest(String),
    /// `ANALYZE TABLE <table>`
    AnalyzeTable(String),
    /// `OPTIMIZE TABLE <table>`
    OptimizeTable(String),
    /// `RESET STATS`
    ResetStats,
}

impl Command {
    /// True for commands that only read (running them twice changes nothing).
    pub fn read_only(&self) -> bool {
        matches!(
            self,
            Command::ShowHelp
                | Command::ShowVersion
                | Command::ShowConfig
                | Command::ShowPools
                | Command::ShowServers
                | Command::ShowClients
                | Command::ShowStats
                | Command::ShowQueries { .. }
                | Command::ShowSlowQueries { .. }
                | Command::ShowSuggestions
                | Command::ShowTablesStatus
                | Command::ExplainDigest(_)
        )
    }
}

/// Every accepted form with a one-line description (`SHOW HELP` and error messages list them).
pub const FORMS: &[(&str, &str)] = &[
    ("SHOW HELP", "this list"),
    ("SHOW VERSION", "Switchyard version"),
    ("SHOW CONFIG", "the configuration in force (secrets redacted)"),
    ("SHOW POOLS", "backend pools: connections, waiting clients, checkouts, paused"),
    ("SHOW SERVERS", "backends with role, health, lag and ban"),
    ("SHOW CLIENTS", "connected clients"),
    ("SHOW STATS", "performance metrics per engine and statement type"),
    ("SHOW QUERIES [ORDER BY <column> [ASC|DESC]] [LIMIT <n>]", "query digests"),
    ("SHOW SLOW QUERIES [LIMIT <n>]", "recent slow statements"),
    ("SHOW SUGGESTIONS", "advice from the slow-query log and N+1 digests"),
    ("SHOW TABLES STATUS", "maintenance candidates"),
    ("SET <key> = <value>", "change a runtime setting (SHOW HELP lists the keys in SET's error)"),
    ("RELOAD", "re-read the configuration file"),
    ("PAUSE [<pool>]", "hold new transactions (pool: engine, server, role, user or database)"),
    ("RESUME [<pool>]", "release paused pools"),
    ("KILL CLIENT <id>", "end a client's connection"),
    ("BAN SERVER <name>", "take a server out of rotation"),
    ("UNBAN SERVER <name>", "put a server back"),
    ("CLEANUP CONNECTIONS", "close idle backend connections"),
    ("EXPLAIN DIGEST <id>", "plan and suggestions for a digest's slowest sample"),
    ("ANALYZE TABLE <table>", "refresh a table's statistics"),
    ("OPTIMIZE TABLE <table>", "reclaim a table's space"),
    ("RESET STATS", "forget digests, totals and recent slow statements"),
];

/// Why a text is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The first words name no command.
    #[error("unknown command {0:?}; accepted commands: {forms}", forms = all_forms())]
    Unknown(String),
    /// A known command with bad arguments: the message says which form was expected.
    #[error("malformed command: {0}")]
    Malformed(String),
    /// Nothing but blanks.
    #[error("empty command; accepted commands: {forms}", forms = all_forms())]
    Empty,
}

fn all_forms() -> String {
    FORMS.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
}

/// A token: a bare word, a quoted string, or `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Eq,
}

impl Tok {
    fn text(&self) -> &str {
        match self {
            Tok::Word(w) | Tok::Quoted(w) => w,
            Tok::Eq => "=",
        }
    }

    fn is(&self, keyword: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

fn tokens(text: &str) -> Result<Vec<Tok>, ParseError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            out.push(Tok::Eq);
        } else if c == '\'' || c == '"' || c == '`' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some(q) if q == c => {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            s.push(c);
                        } else {
                            break;
                        }
                    }
                    Some(x) => s.push(x),
                    None => return Err(ParseError::Malformed(format!("unterminated {c}quoted{c} value"))),
                }
            }
            out.push(Tok::Quoted(s));
        } else {
            let mut s = String::new();
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() || x == '=' {
                    break;
                }
                s.push(x);
                chars.next();
            }
            out.push(Tok::Word(s));
        }
    }
    Ok(out)
}

/// Splits a text holding several commands at `;` outside quotes; blank pieces are dropped.
pub fn split(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Parses one command (a trailing `;` is allowed).
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let text = text.trim().trim_end_matches(';').trim();
    let toks = tokens(text)?;
    let Some(first) = toks.first() else { return Err(ParseError::Empty) };
    let unknown = || ParseError::Unknown(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    let word = |i: usize| toks.get(i).map(|t| t.text().to_ascii_uppercase()).unwrap_or_default();
    let rest = &toks[1..];
    match word(0).as_str() {
        "SHOW" => show(&toks[1..], text).ok_or_else(unknown)?,
        "SET" => set(rest),
        "RELOAD" => exact(rest, 0, Command::Reload, "RELOAD"),
        "PAUSE" => optional_name(rest, "PAUSE [<pool>]").map(Command::Pause),
        "RESUME" => optional_name(rest, "RESUME [<pool>]").map(Command::Resume),
        "KILL" if rest.first().is_some_and(|t| t.is("CLIENT")) => {
            let form = "KILL CLIENT <id>";
            let id = one_arg(&rest[1..], form)?;
            id.parse().map(Command::KillClient).map_err(|_| malformed(form, &format!("{id:?} is not a client id")))
        }
        "BAN" if rest.first().is_some_and(|t| t.is("SERVER")) => {
            one_arg(&rest[1..], "BAN SERVER <name>").map(Command::BanServer)
        }
        "UNBAN" if rest.first().is_some_and(|t| t.is("SERVER")) => {
            one_arg(&rest[1..], "UNBAN SERVER <name>").map(Command::UnbanServer)
        }
        "UNBAN" => one_arg(rest, "UNBAN SERVER <name>").map(Command::UnbanServer),
        "CLEANUP" if rest.first().is_some_and(|t| t.is("CONNECTIONS")) => {
            exact(&rest[1..], 0, Command::CleanupConnections, "CLEANUP CONNECTIONS")
        }
        "EXPLAIN" if rest.first().is_some_and(|t| t.is("DIGEST")) => {
            let form = "EXPLAIN DIGEST <id>";
            let id = one_arg(&rest[1..], form)?;
            let hex = id.trim_start_matches("0x");
            if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(malformed(form, &format!("{id:?} is not a digest id (up to 16 hex digits)")));
            }
            Ok(Command::ExplainDigest(format!("{:016x}", u64::from_str_radix(hex, 16).expect("checked hex"))))
        }
        "ANALYZE" if rest.first().is_some_and(|t| t.is("TABLE")) => {
            one_arg(&rest[1..], "ANALYZE TABLE <table>").map(Command::AnalyzeTable)
        }
        "OPTIMIZE" if rest.first().is_some_and(|t| t.is("TABLE")) => {
            one_arg(&rest[1..], "OPTIMIZE TABLE <table>").map(Command::OptimizeTable)
        }
        "RESET" if rest.first().is_some_and(|t| t.is("STATS")) => {
            exact(&rest[1..], 0, Command::ResetStats, "RESET STATS")
        }
        _ if matches!(first, Tok::Word(_)) => Err(unknown()),
        _ => Err(unknown()),
    }
}

/// The SHOW family; `None` when the words after SHOW name nothing known.
fn show(t: &[Tok], _text: &str) -> Option<Result<Command, ParseError>> {
    let kw = t.first()?.text().to_ascii_uppercase();
    let plain = |c: Command, form: &str, n: usize| Some(exact(&t[n..], 0, c, form));
    match kw.as_str() {
        "HELP" => plain(Command::ShowHelp, "SHOW HELP", 1),
        "VERSION" => plain(Command::ShowVersion, "SHOW VERSION", 1),
        "CONFIG" => plain(Command::ShowConfig, "SHOW CONFIG", 1),
        "POOLS" => plain(Command::ShowPools, "SHOW POOLS", 1),
        "SERVERS" => plain(Command::ShowServers, "SHOW SERVERS", 1),
        "CLIENTS" => plain(Command::ShowClients, "SHOW CLIENTS", 1),
        "STATS" => plain(Command::ShowStats, "SHOW STATS", 1),
        "SUGGESTIONS" => plain(Command::ShowSuggestions, "SHOW SUGGESTIONS", 1),
        "TABLES" if t.get(1).is_some_and(|x| x.is("STATUS")) => {
            plain(Command::ShowTablesStatus, "SHOW TABLES STATUS", 2)
        }
        "QUERIES" => Some(queries(&t[1..])),
        "SLOW" if t.get(1).is_some_and(|x| x.is("QUERIES")) => {
            let form = "SHOW SLOW QUERIES [LIMIT <n>]";
            Some(limit_only(&t[2..], form).map(|limit| Command::ShowSlowQueries { limit }))
        }
        _ => None,
    }
}

fn queries(t: &[Tok]) -> Result<Command, ParseError> {
    let form = "SHOW QUERIES [ORDER BY <column> [ASC|DESC]] [LIMIT <n>]";
    let mut i = 0;
    let mut order = None;
    if t.first().is_some_and(|x| x.is("ORDER")) {
        if !t.get(1).is_some_and(|x| x.is("BY")) {
            return Err(malformed(form, "ORDER must be followed by BY"));
        }
        let Some(col) = t.get(2).filter(|x| matches!(x, Tok::Word(_) | Tok::Quoted(_))) else {
            return Err(malformed(form, "ORDER BY needs a column"));
        };
        let mut desc = true;
        i = 3;
        if let Some(dir) = t.get(3) {
            if dir.is("ASC") {
                desc = false;
                i = 4;
            } else if dir.is("DESC") {
                i = 4;
            }
        }
        order = Some((col.text().to_ascii_lowercase(), desc));
    }
    let limit = limit_only(&t[i..], form)?;
    Ok(Command::ShowQueries { order, limit })
}

fn limit_only(t: &[Tok], form: &str) -> Result<Option<usize>, ParseError> {
    match t {
        [] => Ok(None),
        [l, n] if l.is("LIMIT") => n
            .text()
            .parse()
            .map(Some)
            .map_err(|_| malformed(form, &format!("LIMIT needs a number, not {:?}", n.text()))),
        [l] if l.is("LIMIT") => Err(malformed(form, "LIMIT needs a number")),
        _ => Err(malformed(form, &format!("unexpected {:?}", t[0].text()))),
    }
}

fn set(t: &[Tok]) -> Result<Command, ParseError> {
    let form = "SET <key> = <value>";
    let (key, value) = match t {
        [Tok::Word(k), Tok::Eq, v] => (k, v),
        [Tok::Word(k), to, v] if to.is("TO") => (k, v),
        [Tok::Word(_), Tok::Eq] | [Tok::Word(_)] => return Err(malformed(form, "a value is missing")),
        [] => return Err(malformed(form, "a key is missing")),
        _ => return Err(malformed(form, "expected one key, '=' and one value")),
    };
    if matches!(value, Tok::Eq) {
        return Err(malformed(form, "a value is missing"));
    }
    Ok(Command::Set { key: key.to_ascii_lowercase(), value: value.text().to_string() })
}

fn exact(t: &[Tok], n: usize, c: Command, form: &str) -> Result<Command, ParseError> {
    if t.len() == n { Ok(c) } else { Err(malformed(form, &format!("unexpected {:?}", t[n].text()))) }
}

fn one_arg(t: &[Tok], form: &str) -> Result<String, ParseError> {
    match t {
        [Tok::Word(w) | Tok::Quoted(w)] => Ok(w.clone()),
        [] => Err(malformed(form, "an argument is missing")),
        _ => Err(malformed(form, "expected exactly one argument")),
    }
}

fn optional_name(t: &[Tok], form: &str) -> Result<Option<String>, ParseError> {
    match t {
        [] => Ok(None),
        _ => one_arg(t, form).map(Some),
    }
}

fn malformed(form: &str, why: &str) -> ParseError {
    ParseError::Malformed(format!("{why}; expected {form}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str, expected: Command) {
        assert_eq!(parse(text), Ok(expected), "{text}");
    }

    fn bad(text: &str, needle: &str) {
        match parse(text) {
            Err(e) => assert!(e.to_string().contains(needle), "{text}: {e}"),
            Ok(c) => panic!("{text}: parsed as {c:?}"),
        }
    }

    #[test]
    fn every_form_parses_case_insensitively_with_an_optional_semicolon() {
        ok("show help", Command::ShowHelp);
        ok("SHOW VERSION;", Command::ShowVersion);
        ok("  Show   Config ; ", Command::ShowConfig);
        ok("show pools", Command::ShowPools);
        ok("show servers", Command::ShowServers);
        ok("show clients", Command::ShowClients);
        ok("show stats", Command::ShowStats);
        ok("show queries", Command::ShowQueries { order: None, limit: None });
        ok("show queries order by calls", Command::ShowQueries { order: Some(("calls".into(), true)), limit: None });
        ok(
            "SHOW QUERIES ORDER BY mean_ms ASC LIMIT 5",
            Command::ShowQueries { order: Some(("mean_ms".into(), false)), limit: Some(5) },
        );
        ok("show queries limit 3", Command::ShowQueries { order: None, limit: Some(3) });
        ok("show slow queries", Command::ShowSlowQueries { limit: None });
        ok("show slow queries limit 7", Command::ShowSlowQueries { limit: Some(7) });
        ok("show suggestions", Command::ShowSuggestions);
        ok("show tables status", Command::ShowTablesStatus);
        ok(
            "set slow_threshold.select = 100",
            Command::Set { key: "slow_threshold.select".into(), value: "100".into() },
        );
        ok("SET Monitor.Enabled=off", Command::Set { key: "monitor.enabled".into(), value: "off".into() });
        ok(
            "set pool.connection_timeout to '5s'",
            Command::Set { key: "pool.connection_timeout".into(), value: "5s".into() },
        );
        ok("reload", Command::Reload);
        ok("pause", Command::Pause(None));
        ok("pause replica1", Command::Pause(Some("replica1".into())));
        ok("resume", Command::Resume(None));
        ok("resume primary;", Command::Resume(Some("primary".into())));
        ok("kill client 42", Command::KillClient(42));
        ok("ban server replica1", Command::BanServer("replica1".into()));
        ok("unban server replica1", Command::UnbanServer("replica1".into()));
        ok("UNBAN replica1", Command::UnbanServer("replica1".into()));
        ok("cleanup connections", Command::CleanupConnections);
        ok("explain digest 0xABC", Command::ExplainDigest("0000000000000abc".into()));
        ok("analyze table public.orders", Command::AnalyzeTable("public.orders".into()));
        ok("optimize table `orders`", Command::OptimizeTable("orders".into()));
        ok("reset stats", Command::ResetStats);
    }

    #[test]
    fn unknown_and_malformed_commands_say_what_is_accepted() {
        bad("frobnicate", "unknown command \"frobnicate\"; accepted commands: SHOW HELP");
        bad("show nothing", "unknown command \"show nothing\"");
        bad("", "empty command");
        bad("show pools extra", "unexpected \"extra\"; expected SHOW POOLS");
        bad("show queries order calls", "ORDER must be followed by BY");
        bad("show queries limit x", "LIMIT needs a number");
        bad("show slow queries limit", "LIMIT needs a number");
        bad("kill client abc", "\"abc\" is not a client id; expected KILL CLIENT <id>");
        bad("kill client", "an argument is missing");
        bad("ban server", "an argument is missing; expected BAN SERVER <name>");
        bad("ban server a b", "expected exactly one argument");
        bad("set x", "a value is missing");
        bad("set x = ", "a value is missing");
        bad("set = 1", "expected one key");
        bad("explain digest xyz", "not a digest id");
        bad("set a = 'open", "unterminated");
    }

    #[test]
    fn several_commands_split_at_semicolons_outside_quotes() {
        assert_eq!(split("show pools; show servers;"), vec!["show pools", "show servers"]);
        assert_eq!(split("set a = 'x;y'; reload"), vec!["set a = 'x;y'", "reload"]);
        assert!(split(" ; ").is_empty());
    }

    #[test]
    fn read_only_commands_are_the_show_family_and_explain() {
        assert!(parse("show pools").unwrap().read_only());
        assert!(parse("explain digest 1").unwrap().read_only());
        assert!(!parse("ban server x").unwrap().read_only());
        assert!(!parse("reset stats").unwrap().read_only());
    }
}
