//! The `mariadb` CLI through the proxy gives the same output as directly against the primary: DDL, DML, a
//! multi-statement string, a stored procedure returning two result sets, LOAD DATA LOCAL INFILE of 100k rows
//! and a rolled-back transaction.

use std::fmt::Write as _;
use std::time::Duration;

use crate::common;
use crate::proxy::{TestProxy, mariadb_cli};

/// The script, run in a fresh database `db`; its output must not name the database.
fn script(db: &str, infile: &str) -> String {
    format!(
        r#"DROP DATABASE IF EXISTS {db};
CREATE DATABASE {db};
USE {db};
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2), note TEXT);
INSERT INTO items VALUES (1, 'apple', 1.50, NULL), (2, 'pear', 2.25, 'ripe'), (3, 'plum', 0.99, 'x');
UPDATE items SET price = price * 2 WHERE id = 2;
DELETE FROM items WHERE id = 3;
ALTER TABLE items ADD COLUMN qty INT NOT NULL DEFAULT 7;
SELECT * FROM items ORDER BY id;
DELIMITER //
SELECT COUNT(*) AS n FROM items; SELECT name FROM items ORDER BY id DESC; INSERT INTO items (id, name) VALUES (4, 'fig')//
CREATE PROCEDURE two_sets()
BEGIN
  SELECT id, name FROM items ORDER BY id;
  SELECT SUM(price) AS total, MAX(qty) AS most FROM items;
END//
DELIMITER ;
CALL two_sets();
CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(64));
LOAD DATA LOCAL INFILE '{infile}' INTO TABLE big FIELDS TERMINATED BY ',';
SELECT COUNT(*), SUM(id), SUM(CRC32(v)) FROM big;
START TRANSACTION;
INSERT INTO items (id, name) VALUES (5, 'kiwi');
DELETE FROM big WHERE id < 50000;
SELECT COUNT(*) FROM items;
ROLLBACK;
SELECT COUNT(*) FROM items;
SELECT COUNT(*) FROM big;
SELECT @@autocommit, @@in_transaction;
DROP DATABASE {db};
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_gives_the_same_results_as_direct() {
    let my = common::my().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let infile = dir.path().join("rows.csv");
    let mut rows = String::with_capacity(100_000 * 24);
    for i in 1..=100_000 {
        let _ = writeln!(rows, "{i},value-{:08x}", (i as u32).wrapping_mul(2_654_435_761));
    }
    std::fs::write(&infile, rows).expect("write rows");
    let infile = infile.display().to_string();
    let p = TestProxy::mysql().await.with(|c| c.routing.read_your_writes = Duration::from_secs(30)).start().await;
    let args = ["--local-infile=1", "--table"];

    let (ok, direct, err) = mariadb_cli(my.primary.port(), &args, &script("cli_direct", &infile)).await;
    assert!(ok, "direct run failed: {err}");
    let (ok, proxied, err) = mariadb_cli(p.my_addr().port(), &args, &script("cli_proxy", &infile)).await;
    assert!(ok, "run through the proxy failed: {err}\n{proxied}");
    assert_eq!(proxied, direct, "same output through the proxy as direct");

    assert!(direct.contains("| total | most |"), "second result set of the procedure: {direct}");
    assert!(direct.contains(" 100000 |"), "100k rows loaded: {direct}");
    assert!(direct.contains("SUM(CRC32(v))"), "checksum printed");
}
