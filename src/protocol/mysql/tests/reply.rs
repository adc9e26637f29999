//! Reply state machine on hand-built packet sequences.

use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::{column_def, eof, err, ok, ok_fe, text_row};
use crate::protocol::mysql::framer::MAX_PAYLOAD;
use crate::protocol::mysql::reply::{ReplyKind, ReplyTracker, Step, Summary};

const AUTOCOMMIT: u16 = 0x0002;
const MORE: u16 = 0x0008;
const CURSOR: u16 = 0x0040;
const LAST_ROW: u16 = 0x0080;

fn base() -> CapabilityFlags {
    CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_SESSION_TRACK
}

fn deprecate() -> CapabilityFlags {
    base() | CapabilityFlags::CLIENT_DEPRECATE_EOF
}

/// Feeds every packet; all but the last must continue, the last must finish. Returns the summary.
fn run(kind: ReplyKind, caps: CapabilityFlags, packets: &[Vec<u8>]) -> Summary {
    let mut t = ReplyTracker::new(kind, caps);
    let (last, init) = packets.split_last().expect("packets");
    for (i, p) in init.iter().enumerate() {
        assert_eq!(t.feed(p).unwrap(), Step::Continue, "packet {i} of {kind:?}");
        assert!(!t.is_done());
    }
    match t.feed(last).unwrap() {
        Step::Done(s) => {
            assert!(t.is_done());
            assert!(t.feed(&ok(0, 0, 0)).is_err(), "nothing may follow a finished reply");
            s
        }
        other => panic!("last packet gave {other:?}"),
    }
}

fn two_columns_three_rows(end: Vec<u8>, with_eof: bool) -> Vec<Vec<u8>> {
    let mut v = vec![vec![2], column_def("a"), column_def("b")];
    if with_eof {
        v.push(eof(AUTOCOMMIT));
    }
    for i in 0..3u8 {
        v.push(text_row(&[Some(&[b'0' + i]), None]));
    }
    v.push(end);
    v
}

#[test]
fn result_set_with_eof() {
    let s = run(ReplyKind::Query, base(), &two_columns_three_rows(eof(AUTOCOMMIT | 0x0020), true));
    assert_eq!(s.rows, 3);
    assert_eq!(s.result_sets, 1);
    assert_eq!(s.status, Some(StatusFlags::from_bits_retain(AUTOCOMMIT | 0x0020)));
    assert!(s.flags_seen.contains(StatusFlags::SERVER_STATUS_NO_INDEX_USED));
    assert_eq!(s.error, None);
}

#[test]
fn result_set_with_deprecate_eof_and_session_state() {
    // The final OK carries session-state info, so it is longer than 9 bytes and still ends the rows.
    let end = ok_fe(AUTOCOMMIT | 0x4000, &[0x00, 0x05, 0x03, 0x03, 0x02, b'd', b'b']);
    assert!(end.len() > 9);
    let s = run(ReplyKind::Query, deprecate(), &two_columns_three_rows(end, false));
    assert_eq!((s.rows, s.result_sets), (3, 1));
    assert_eq!(s.status.map(|s| s.bits()), Some(AUTOCOMMIT | 0x4000));
}

#[test]
fn multi_results_continue_until_no_more_results() {
    let mut packets = vec![ok(2, 5, AUTOCOMMIT | MORE)];
    let mut rs = two_columns_three_rows(eof(AUTOCOMMIT | MORE), true);
    packets.append(&mut rs);
    packets.push(ok(4, 0, AUTOCOMMIT | 0x0001));
    let s = run(ReplyKind::Query, base(), &packets);
    assert_eq!(s.affected_rows, 6);
    assert_eq!(s.last_insert_id, 5);
    assert_eq!(s.rows, 3);
    assert_eq!(s.result_sets, 1);
    assert!(s.status.unwrap().contains(StatusFlags::SERVER_STATUS_IN_TRANS));
}

#[test]
fn error_first_and_error_mid_rows() {
    let s = run(ReplyKind::Query, base(), &[err(1064, "42000", "You have an error")]);
    let e = s.error.unwrap();
    assert_eq!((e.code, e.sqlstate.as_str()), (1064, "42000"));
    assert_eq!(s.status, None, "an ERR carries no status");

    let packets = vec![vec![1], column_def("a"), eof(AUTOCOMMIT), text_row(&[Some(b"1")]), err(1317, "70100", "x")];
    let s = run(ReplyKind::Query, base(), &packets);
    assert_eq!(s.error.unwrap().code, 1317);
    assert_eq!(s.rows, 1);
}

#[test]
fn mariadb_progress_report_is_not_the_end() {
    let mut progress = vec![0xFF, 0xFF, 0xFF, 1, 1, 2, 0, 0, 0];
    progress.extend_from_slice(b"\x05stage");
    let s = run(ReplyKind::Query, base(), &[progress, ok(1, 0, AUTOCOMMIT)]);
    assert_eq!(s.affected_rows, 1);
}

#[test]
fn text_row_starting_with_fe_of_length_9_or_more_is_a_row() {
    let mut row = vec![0xFE];
    row.extend_from_slice(&[0u8; 8]);
    assert_eq!(row.len(), 9);
    let packets = vec![vec![1], column_def("a"), eof(AUTOCOMMIT), row.clone(), row, eof(AUTOCOMMIT)];
    let s = run(ReplyKind::Query, base(), &packets);
    assert_eq!(s.rows, 2);
}

#[test]
fn huge_row_starting_with_fe_and_its_continuation_are_not_terminators() {
    // A value of >= 16 MiB gets the 0xFE length prefix; the row is split at 16 MiB - 1 and the continuation
    // happens to start with 0xFE and be short. With CLIENT_DEPRECATE_EOF both would look like an OK otherwise.
    let mut first = vec![0u8; MAX_PAYLOAD];
    first[0] = 0xFE;
    let continuation = vec![0xFE, 1, 2];
    let packets = vec![vec![1], column_def("blob"), first, continuation, ok_fe(AUTOCOMMIT, &[])];
    let s = run(ReplyKind::Query, deprecate(), &packets);
    assert_eq!(s.rows, 1);
}

#[test]
fn prepare_ok_with_params_and_columns() {
    let mut prep = vec![0x00, 7, 0, 0, 0, 3, 0, 2, 0, 0, 1, 0];
    let defs = |n: usize| (0..n).map(|i| column_def(&format!("c{i}"))).collect::<Vec<_>>();
    let mut packets = vec![prep.clone()];
    packets.extend(defs(2));
    packets.push(eof(AUTOCOMMIT));
    packets.extend(defs(3));
    packets.push(eof(AUTOCOMMIT));
    let s = run(ReplyKind::StmtPrepare, base(), &packets);
    let p = s.prepared.unwrap();
    assert_eq!((p.statement_id, p.num_columns, p.num_params, p.warnings), (7, 3, 2, 1));
    assert_eq!(s.status.map(|s| s.bits()), Some(AUTOCOMMIT));

    let mut packets = vec![prep.clone()];
    packets.extend(defs(5));
    let s = run(ReplyKind::StmtPrepare, deprecate(), &packets);
    assert_eq!(s.prepared.unwrap().num_params, 2);
    assert_eq!(s.status, None);

    prep[5] = 0;
    prep[7] = 0;
    let s = run(ReplyKind::StmtPrepare, base(), &[prep]);
    assert_eq!(s.prepared.unwrap().num_columns, 0);

    let s = run(ReplyKind::StmtPrepare, base(), &[err(1146, "42S02", "no table")]);
    assert_eq!(s.error.unwrap().code, 1146);
}

#[test]
fn binary_rows_of_stmt_execute() {
    // Binary rows: 0x00 header, NULL bitmap, values. Lengths >= 9 on purpose.
    let row1 = vec![0x00, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'];
    let row2 = vec![0x00, 0x04, 2, 0, 0, 0, 0, 0, 0, 0];
    let packets = vec![vec![2], column_def("id"), column_def("s"), eof(AUTOCOMMIT), row1, row2, eof(AUTOCOMMIT)];
    let s = run(ReplyKind::StmtExecute, base(), &packets);
    assert_eq!(s.rows, 2);
    let packets = vec![vec![1], column_def("id"), vec![0x00, 0x00, 1], ok_fe(AUTOCOMMIT, &[])];
    assert_eq!(run(ReplyKind::StmtExecute, deprecate(), &packets).rows, 1);
    assert_eq!(run(ReplyKind::StmtExecute, base(), &[ok(1, 9, AUTOCOMMIT)]).last_insert_id, 9);
}

#[test]
fn cursor_open_then_fetch() {
    let packets = vec![vec![1], column_def("id"), eof(AUTOCOMMIT | CURSOR)];
    let s = run(ReplyKind::StmtExecute, base(), &packets);
    assert_eq!(s.rows, 0);
    assert!(s.status.unwrap().contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS));

    let packets = vec![vec![0x00, 0x00, 1], vec![0x00, 0x00, 2], eof(AUTOCOMMIT | CURSOR | LAST_ROW)];
    let s = run(ReplyKind::StmtFetch, base(), &packets);
    assert_eq!(s.rows, 2);
    assert!(s.status.unwrap().contains(StatusFlags::SERVER_STATUS_LAST_ROW_SENT));
    // Same with CLIENT_DEPRECATE_EOF: the cursor shows in the OK after the column definitions.
    let packets = vec![vec![1], column_def("id"), ok_fe(AUTOCOMMIT | CURSOR, &[])];
    assert_eq!(run(ReplyKind::StmtExecute, deprecate(), &packets).rows, 0);
}

#[test]
fn local_infile_then_ok() {
    let mut t = ReplyTracker::new(ReplyKind::Query, base());
    let mut request = vec![0xFB];
    request.extend_from_slice(b"/tmp/data.csv");
    assert_eq!(t.feed(&request).unwrap(), Step::LocalInfile { filename: b"/tmp/data.csv".to_vec() });
    match t.feed(&ok(3, 0, AUTOCOMMIT)).unwrap() {
        Step::Done(s) => assert_eq!(s.affected_rows, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn field_list_simple_and_statistics() {
    let s = run(ReplyKind::FieldList, base(), &[column_def("a"), column_def("b"), eof(AUTOCOMMIT)]);
    assert_eq!(s.rows, 0);
    assert!(s.status.is_some());
    assert_eq!(run(ReplyKind::Simple, base(), &[ok(0, 0, AUTOCOMMIT)]).status.map(|s| s.bits()), Some(AUTOCOMMIT));
    assert_eq!(run(ReplyKind::Simple, base(), &[eof(AUTOCOMMIT)]).warnings, 0, "COM_SET_OPTION answers EOF");
    assert_eq!(run(ReplyKind::Simple, base(), &[err(1049, "42000", "Unknown database")]).error.unwrap().code, 1049);
    let s = run(ReplyKind::Statistics, base(), &[b"Uptime: 5  Threads: 1".to_vec()]);
    assert_eq!((s.status, s.error), (None, None));
    assert!(ReplyTracker::new(ReplyKind::Simple, base()).feed(&[2, 1]).is_err(), "a result set is not simple");
}

#[test]
fn malformed_column_count_is_an_error() {
    assert!(ReplyTracker::new(ReplyKind::Query, base()).feed(&[0xFC, 1]).is_err());
    assert!(ReplyTracker::new(ReplyKind::Query, base()).feed(&[]).is_err());
    let mut t = ReplyTracker::new(ReplyKind::Query, base());
    t.feed(&[1]).unwrap();
    t.feed(&column_def("a")).unwrap();
    assert!(t.feed(&text_row(&[Some(b"x")])).is_err(), "a row where EOF must be");
}
