//! The embedded log keeps what it acknowledged, in order, across reopen and torn writes.

use std::io::Write;

use super::*;

fn rec(key: &str, payload: &str) -> Record {
    Record {
        key: key.as_bytes().to_vec(),
        payload: payload.as_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_read_back_in_order_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), 4).unwrap();
    let records: Vec<Record> = (0..40)
        .map(|i| rec(&format!("cell{}", i % 5), &format!("event {i}")))
        .collect();
    let placed = log.append(&records, 1_700_000_000_000).await.unwrap();
    assert_eq!(placed.len(), 40);
    let mut total = 0;
    for p in 0..4 {
        let got = log.read(p, 0, 1000).await.unwrap();
        total += got.len();
        for (i, d) in got.iter().enumerate() {
            assert_eq!(d.offset, i as u64);
            assert_eq!(d.partition, p);
            assert_eq!(partition_for(&d.key, 4), p);
            assert_eq!(d.timestamp_ms, 1_700_000_000_000);
        }
        // One key's records keep their order.
        let same_key: Vec<_> = got
            .iter()
            .filter(|d| d.key == b"cell1")
            .map(|d| d.payload.clone())
            .collect();
        let mut sorted = same_key.clone();
        sorted.sort_by_key(|p| {
            String::from_utf8_lossy(p)
                .split(' ')
                .nth(1)
                .unwrap()
                .parse::<u32>()
                .unwrap()
        });
        assert_eq!(same_key, sorted);
    }
    assert_eq!(total, 40);
    let (p, o) = placed[7];
    assert_eq!(log.read(p, o, 1).await.unwrap()[0].payload, b"event 7");
}

#[tokio::test(flavor = "multi_thread")]
async fn records_survive_reopen_and_offsets_continue() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path(), 1).unwrap();
        log.append(&[rec("k", "a"), rec("k", "b")], 1)
            .await
            .unwrap();
    }
    let log = FileLog::open(dir.path(), 1).unwrap();
    assert_eq!(log.end_offset(0).await, 2);
    assert_eq!(log.append(&[rec("k", "c")], 2).await.unwrap(), vec![(0, 2)]);
    let payloads: Vec<_> = log
        .read(0, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.payload)
        .collect();
    assert_eq!(payloads, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert!(
        FileLog::open(dir.path(), 2).is_err(),
        "a different partition count is refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_tail_is_cut_and_writing_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path(), 1).unwrap();
        log.append(&[rec("k", "one"), rec("k", "two"), rec("k", "three")], 1)
            .await
            .unwrap();
    }
    // A crash in the middle of a write leaves half a frame behind.
    let path = dir.path().join("p0000.log");
    let whole = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 1, 2, 3])
        .unwrap();

    let log = FileLog::open(dir.path(), 1).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
    assert_eq!(log.end_offset(0).await, 3);
    log.append(&[rec("k", "four")], 2).await.unwrap();
    let payloads: Vec<_> = log
        .read(0, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.payload)
        .collect();
    assert_eq!(
        payloads,
        vec![
            b"one".to_vec(),
            b"two".to_vec(),
            b"three".to_vec(),
            b"four".to_vec()
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_last_record_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path(), 1).unwrap();
        log.append(&[rec("k", "kept"), rec("k", "flipped")], 1)
            .await
            .unwrap();
    }
    let path = dir.path().join("p0000.log");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let log = FileLog::open(dir.path(), 1).unwrap();
    let got = log.read(0, 0, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn group_offsets_commit_durably() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), 3).unwrap();
    assert_eq!(log.committed("speed").unwrap(), vec![0, 0, 0]);
    log.commit("speed", &[5, 0, 7]).unwrap();
    let reopened = FileLog::open(dir.path(), 3).unwrap();
    assert_eq!(reopened.committed("speed").unwrap(), vec![5, 0, 7]);
    assert_eq!(reopened.committed("archive").unwrap(), vec![0, 0, 0]);
    assert!(log.commit("../escape", &[1]).is_err());
    assert!(log.read(3, 0, 1).await.is_err());
}

#[test]
fn partitioning_is_stable() {
    // FNV-1a of "882b9bc4a1fffff": fixed forever, or keys would move between partitions.
    assert_eq!(
        partition_for(b"882b9bc4a1fffff", 12),
        partition_for(b"882b9bc4a1fffff", 12)
    );
    assert_eq!(partition_for(b"", 7), 0x811c_9dc5 % 7);
    assert_eq!(partition_for(b"a", 1_000_000), 0xe40c_292c % 1_000_000);
}
