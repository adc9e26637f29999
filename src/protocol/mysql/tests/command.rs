//! Command parsers.

use crate::protocol::mysql::command::{Command, parse_command};
use crate::protocol::mysql::reply::ReplyKind;

#[test]
fn parses_the_routed_commands() {
    assert_eq!(parse_command(b"\x03SELECT 1").unwrap(), Command::Query(b"SELECT 1"));
    assert_eq!(parse_command(b"\x02appdb").unwrap(), Command::InitDb(b"appdb"));
    assert_eq!(parse_command(b"\x01").unwrap(), Command::Quit);
    assert_eq!(parse_command(b"\x0e").unwrap(), Command::Ping);
    assert_eq!(parse_command(b"\x1f").unwrap(), Command::ResetConnection);
    assert_eq!(parse_command(b"\x09").unwrap(), Command::Statistics);
    assert_eq!(parse_command(b"\x04users\0na%").unwrap(), Command::FieldList { table: b"users", wildcard: b"na%" });
    assert_eq!(parse_command(b"\x04users").unwrap(), Command::FieldList { table: b"users", wildcard: b"" });
    assert_eq!(parse_command(b"\x16SELECT ?").unwrap(), Command::StmtPrepare(b"SELECT ?"));
    assert_eq!(
        parse_command(&[0x17, 2, 0, 0, 0, 1, 1, 0, 0, 0]).unwrap(),
        Command::StmtExecute { stmt_id: 2, flags: 1 }
    );
    assert_eq!(
        parse_command(&[0x18, 2, 0, 0, 0, 3, 0, b'x']).unwrap(),
        Command::StmtSendLongData { stmt_id: 2, param: 3 }
    );
    assert_eq!(parse_command(&[0x19, 2, 0, 0, 0]).unwrap(), Command::StmtClose(2));
    assert_eq!(parse_command(&[0x1A, 2, 0, 0, 0]).unwrap(), Command::StmtReset(2));
    assert_eq!(parse_command(&[0x1C, 2, 0, 0, 0, 10, 0, 0, 0]).unwrap(), Command::StmtFetch { stmt_id: 2, rows: 10 });
    assert_eq!(parse_command(&[0x1B, 1, 0]).unwrap(), Command::SetOption(1));
    assert_eq!(parse_command(&[0x0C, 9, 0, 0, 0]).unwrap(), Command::ProcessKill(9));
    assert_eq!(parse_command(&[0x11, b'u', 0]).unwrap(), Command::ChangeUser(&[b'u', 0]));
    assert_eq!(parse_command(&[0x0A]).unwrap(), Command::Other(0x0A, &[]));
}

#[test]
fn short_commands_are_errors() {
    assert!(parse_command(&[]).is_err());
    assert!(parse_command(&[0x17, 2, 0, 0, 0]).is_err());
    assert!(parse_command(&[0x19, 2, 0]).is_err());
    assert!(parse_command(&[0x1C, 2, 0, 0, 0, 1]).is_err());
}

#[test]
fn reply_kinds() {
    let kind = |p: &[u8]| parse_command(p).unwrap().reply_kind();
    assert_eq!(kind(b"\x03SELECT 1"), Some(ReplyKind::Query));
    assert_eq!(kind(&[0x19, 2, 0, 0, 0]), None);
    assert_eq!(kind(&[0x18, 2, 0, 0, 0, 0, 0]), None);
    assert_eq!(kind(b"\x01"), None);
    assert_eq!(kind(b"\x16SELECT 1"), Some(ReplyKind::StmtPrepare));
    assert_eq!(kind(&[0x1C, 2, 0, 0, 0, 10, 0, 0, 0]), Some(ReplyKind::StmtFetch));
    assert_eq!(kind(b"\x0e"), Some(ReplyKind::Simple));
    assert_eq!(kind(b"\x09"), Some(ReplyKind::Statistics));
    assert_eq!(kind(b"\x04t\0"), Some(ReplyKind::FieldList));
}
