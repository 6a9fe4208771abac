//! `daira export --format parquet`: the graph as Parquet files that other engines read.

use crate::{run, write};
use arrow_array::{Array, StringArray, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every row group of a Parquet file, as Arrow batches.
fn read(path: &Path) -> Vec<arrow_array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().map(Result::unwrap).collect()
}

fn column<'a, T: 'static>(batch: &'a arrow_array::RecordBatch, name: &str) -> &'a T {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_any().downcast_ref::<T>().unwrap()
}

#[test]
fn the_graph_goes_out_as_parquet_with_external_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A follows graph with a duplicate line and a vertex that only receives.
    let edges = write(dir.path(), "edges.snap", "# a comment\n10 20\n10 30\n20 30\n30 10\n10 20\n40 30\n");
    let imported = run(&data, &["import", "--format", "snap", edges.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let out = dir.path().join("parquet");
    let exported = run(&data, &["export", "--format", "parquet", "--out", out.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&exported.stderr);
    assert!(exported.status.success(), "{said}");
    assert!(said.contains("wrote 4 vertices and 5 edges"), "{said}");

    let vertices = read(&out.join("vertices.parquet"));
    let mut external = BTreeMap::new();
    for batch in &vertices {
        let (index, ids) = (column::<UInt32Array>(batch, "index"), column::<StringArray>(batch, "external_id"));
        let kinds = column::<StringArray>(batch, "kind");
        for row in 0..batch.num_rows() {
            assert_eq!(kinds.value(row), "mask");
            external.insert(index.value(row), ids.value(row).to_owned());
        }
    }
    assert_eq!(external.values().cloned().collect::<BTreeSet<_>>(), ["10", "20", "30", "40"].map(String::from).into());

    let mut pairs = BTreeSet::new();
    for batch in read(&out.join("edges.parquet")) {
        let (src, dst) = (column::<UInt32Array>(&batch, "src"), column::<UInt32Array>(&batch, "dst"));
        let kinds = column::<StringArray>(&batch, "kind");
        for row in 0..batch.num_rows() {
            assert_eq!(kinds.value(row), "follows");
            pairs.insert((external[&src.value(row)].clone(), external[&dst.value(row)].clone()));
        }
        assert_eq!(batch.column_by_name("weight").unwrap().null_count(), batch.num_rows(), "follows carry no weight");
    }
    let expected: BTreeSet<(String, String)> = [("10", "20"), ("10", "30"), ("20", "30"), ("30", "10"), ("40", "30")]
        .map(|(a, b)| (a.into(), b.into()))
        .into();
    assert_eq!(pairs, expected);

    // Asked wrongly: a clear refusal, nothing written.
    let refused = run(&data, &["export", "--format", "parquet"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--out"), "{}", String::from_utf8_lossy(&refused.stderr));
}
