//! Classification cost: digest fingerprint, cache hit, and cache miss (a full parse) for a point select and a
//! 3-join analytics query. Run with `cargo bench --bench classify`. Measures only the classifier, no IO.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::classify::digest::fingerprint_for;
use switchyard::classify::{Classifier, Dialect, classify_uncached};

const POINT: &str = "SELECT c FROM sbtest1 WHERE id = 4711";
const JOINS: &str = "SELECT o.id, c.name, sum(i.qty) FROM orders o JOIN customers c ON c.id = o.customer_id \
    JOIN items i ON i.order_id = o.id JOIN regions r ON r.id = c.region_id \
    WHERE o.created_at > now() - interval '7 days' GROUP BY o.id, c.name ORDER BY 3 DESC LIMIT 50";

fn bench(c: &mut Criterion) {
    c.bench_function("fingerprint/point_select", |b| b.iter(|| fingerprint_for(Dialect::Postgres, black_box(POINT))));
    c.bench_function("fingerprint/three_joins", |b| b.iter(|| fingerprint_for(Dialect::Postgres, black_box(JOINS))));
    let classifier = Classifier::new(Dialect::Postgres, 1024);
    classifier.classify(POINT);
    c.bench_function("classify/hit_point_select", |b| b.iter(|| classifier.classify(black_box(POINT))));
    c.bench_function("classify/miss_point_select", |b| {
        b.iter(|| classify_uncached(Dialect::Postgres, black_box(POINT)))
    });
    c.bench_function("classify/miss_three_joins", |b| {
        b.iter(|| classify_uncached(Dialect::Postgres, black_box(JOINS)))
    });
    c.bench_function("classify/miss_point_select_mysql", |b| {
        b.iter(|| classify_uncached(Dialect::MySql, black_box(POINT)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
