//! The embedded log and Kafka behave the same behind `EventLog` and `LogConsumer`: records
//! with one key keep their order, a group resumes after what it committed, and what it
//! did not commit is delivered again.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::pipeline::{LogKind, PARTITIONS, kafka_config, read_all, unique};
use rstest::rstest;
use vigil_backend::log::{
    Delivered, EventLog, FileLog, KafkaConsumer, KafkaLog, LogConsumer, Record, Start,
};

struct Topic {
    log: EventLog,
    name: String,
    _dir: tempfile::TempDir,
}

impl Drop for Topic {
    fn drop(&mut self) {
        if matches!(self.log, EventLog::Kafka(_)) {
            common::pipeline::delete_topics(vec![self.name.clone()]);
        }
    }
}

fn topic(kind: LogKind) -> Topic {
    let dir = tempfile::tempdir().unwrap();
    let name = unique("test.log.");
    let log = match kind {
        LogKind::File => EventLog::File(FileLog::open(dir.path(), PARTITIONS).unwrap()),
        LogKind::Kafka => {
            EventLog::Kafka(KafkaLog::new(&kafka_config(), &name, PARTITIONS).unwrap())
        }
    };
    Topic {
        log,
        name,
        _dir: dir,
    }
}

async fn member(t: &Topic, group: &str) -> LogConsumer {
    match &t.log {
        EventLog::File(f) => LogConsumer::file(f.clone(), group, Start::Committed).unwrap(),
        EventLog::Kafka(_) => LogConsumer::Kafka(
            KafkaConsumer::join(&kafka_config(), &t.name, PARTITIONS, group)
                .await
                .unwrap(),
        ),
    }
}

fn records(keys: usize, per_key: usize) -> Vec<Record> {
    (0..per_key)
        .flat_map(|i| {
            (0..keys).map(move |k| Record {
                key: format!("cell-{k}").into_bytes(),
                payload: format!("{k}:{i}").into_bytes(),
            })
        })
        .collect()
}

/// Payloads per key, in delivery order.
fn by_key(delivered: &[Delivered]) -> BTreeMap<Vec<u8>, Vec<String>> {
    let mut out: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for d in delivered {
        out.entry(d.key.clone())
            .or_default()
            .push(String::from_utf8(d.payload.clone()).unwrap());
    }
    out
}

#[rstest]
#[case::file(LogKind::File)]
#[case::kafka(LogKind::Kafka)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_keeps_its_order_and_groups_resume_after_their_commit(#[case] kind: LogKind) {
    let t = topic(kind);
    let sent = records(6, 50);
    t.log.append(&sent[..150], 0).await.unwrap();
    t.log.append(&sent[150..], 0).await.unwrap();

    let mut first = member(&t, "readers").await;
    let got = read_all(&mut first, 300).await;
    let keys = by_key(&got);
    assert_eq!(keys.len(), 6);
    for (key, payloads) in &keys {
        let k = String::from_utf8(key.clone()).unwrap();
        let k = k.trim_start_matches("cell-");
        let expected: Vec<String> = (0..50).map(|i| format!("{k}:{i}")).collect();
        assert_eq!(payloads, &expected, "key {k} out of order or incomplete");
    }
    // Keys spread over partitions, each key in one.
    let mut partition_of: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for d in &got {
        assert_eq!(
            *partition_of.entry(d.key.clone()).or_insert(d.partition),
            d.partition
        );
    }

    // Commit only the partition of the first key; a new member re-reads the others.
    let p0 = partition_of[b"cell-0".as_slice()];
    let done: Vec<Delivered> = got.iter().filter(|d| d.partition == p0).cloned().collect();
    first.commit(&done).await.unwrap();
    drop(first);
    let mut second = member(&t, "readers").await;
    let again = read_all(&mut second, 300 - done.len()).await;
    assert!(
        again.iter().all(|d| d.partition != p0),
        "committed records came back"
    );
    second.commit(&again).await.unwrap();
    let extra = second.poll(10, Duration::from_millis(500)).await.unwrap();
    assert!(
        extra.is_empty(),
        "nothing left after committing everything: {extra:?}"
    );
    assert_eq!(second.lag().await.unwrap(), 0);

    // Another group starts from the beginning on its own.
    let mut other = member(&t, "auditors").await;
    assert_eq!(read_all(&mut other, 300).await.len(), 300);
}
