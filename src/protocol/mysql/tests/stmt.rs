//! Statement-id rewriting and execute parameter types.

use crate::protocol::mysql::command::{
    COM_QUERY, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_FETCH, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA, stmt_id,
};
use crate::protocol::mysql::stmt::{execute_param_types, parse_prepare_ok, set_stmt_id, with_param_types};

#[test]
fn set_stmt_id_in_every_statement_command_and_prepare_ok() {
    for cmd in [COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_FETCH] {
        let mut p = vec![cmd, 1, 0, 0, 0, 0xAA, 0xBB];
        set_stmt_id(&mut p, 0x0102_0304).unwrap();
        assert_eq!(p, vec![cmd, 4, 3, 2, 1, 0xAA, 0xBB]);
        assert_eq!(stmt_id(&p), Some(0x0102_0304));
    }
    let mut ok = vec![0x00, 9, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0];
    set_stmt_id(&mut ok, 77).unwrap();
    assert_eq!(parse_prepare_ok(&ok).unwrap().statement_id, 77);
    assert!(set_stmt_id(&mut [COM_QUERY, 1, 2, 3, 4], 1).is_err());
    assert!(set_stmt_id(&mut [COM_STMT_CLOSE, 1, 2], 1).is_err(), "too short");
    assert_eq!(stmt_id(&[COM_QUERY, 1, 2, 3, 4]), None);
}

#[test]
fn prepare_ok_without_warnings_field() {
    let p = parse_prepare_ok(&[0x00, 1, 0, 0, 0, 2, 0, 3, 0]).unwrap();
    assert_eq!((p.statement_id, p.num_columns, p.num_params, p.warnings), (1, 2, 3, 0));
    assert!(parse_prepare_ok(&[0x00, 1, 0]).is_err());
    assert!(parse_prepare_ok(&[0xFF, 1, 0, 0, 0, 2, 0, 3, 0]).is_err());
}

/// COM_STMT_EXECUTE of a 2-parameter statement: id 5, no cursor, iteration 1, NULL bitmap 0.
fn execute(bound: bool) -> Vec<u8> {
    let mut p = vec![COM_STMT_EXECUTE, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    if bound {
        p.extend_from_slice(&[1, 0x08, 0x00, 0xFE, 0x00]);
    } else {
        p.push(0);
    }
    p.extend_from_slice(&[42, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    p
}

#[test]
fn param_types_are_found_and_reinserted() {
    let with = execute(true);
    let without = execute(false);
    assert_eq!(execute_param_types(&with, 2).unwrap(), Some(&[0x08, 0x00, 0xFE, 0x00][..]));
    assert_eq!(execute_param_types(&without, 2).unwrap(), None);
    let rebuilt = with_param_types(&without, 2, &[0x08, 0x00, 0xFE, 0x00]).unwrap();
    assert_eq!(&rebuilt[..], &with[..]);
    assert_eq!(&with_param_types(&with, 2, &[0; 4]).unwrap()[..], &with[..], "already bound: unchanged");
    assert!(with_param_types(&without, 2, &[0; 3]).is_err());
    assert!(execute_param_types(&[COM_STMT_EXECUTE, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0, 7], 2).is_err());
}
