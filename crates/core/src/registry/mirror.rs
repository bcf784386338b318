//! Following another registry's journal (the use case behind an NRTM client): a batch of
//! `ADD`/`DEL` operations, in serial order, becomes one set of changes to the mirrored
//! source, applied in the store's bounded transactions, and the source's serial moves to
//! the last operation's. Operations out of order, or not after the source's serial, are
//! refused whole and the last good serial is kept. The wire format is the front end's;
//! this module sees operations only.

use std::collections::HashMap;

use super::import::journal_object;
use crate::store::{now_unix, NewObject, RegistryChanges, Store, StoreError};

/// One journal operation as the upstream sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub serial: i64,
    /// `ADD` (true) or `DEL` (false).
    pub add: bool,
    /// The object's RPSL text.
    pub text: String,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The source's serial after the batch.
    pub serial: i64,
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    /// Operations whose object could not be admitted (serial, reason); the serial still
    /// moves past them, as IRRd's mirror does.
    pub skipped: Vec<(i64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The operations do not follow the source's serial in order.
    #[error("{0}")]
    Order(String),
    /// The source has never been imported (a mirror starts from a dump with a serial).
    #[error("{0}")]
    NotStarted(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The serial `source` is at, if it has one.
pub async fn current_serial(store: &Store, source: &str) -> Result<Option<i64>, StoreError> {
    Ok(store
        .registry_sources()
        .await?
        .into_iter()
        .find(|s| s.name.eq_ignore_ascii_case(source))
        .and_then(|s| s.serial))
}

/// Apply `operations` (serials increasing, each after the source's serial) to `source`.
pub async fn apply(
    store: &Store,
    source: &str,
    operations: &[Operation],
) -> Result<Applied, MirrorError> {
    let source = source.to_ascii_uppercase();
    let Some(current) = current_serial(store, &source).await? else {
        return Err(MirrorError::NotStarted(format!(
            "source {source} has no serial yet: a mirror starts from a dump imported with its serial"
        )));
    };
    let mut applied = Applied {
        serial: current,
        ..Applied::default()
    };
    let Some(last) = operations.last() else {
        return Ok(applied);
    };
    let mut previous = current;
    for op in operations {
        if op.serial <= previous {
            return Err(MirrorError::Order(format!(
                "serial {} does not follow {previous}: operations must come in increasing serial order after the source's serial; nothing applied, {source} stays at {current}",
                op.serial
            )));
        }
        previous = op.serial;
    }
    // The state each touched object ends in, in the order first touched.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut last_state: HashMap<(String, String), Option<NewObject>> = HashMap::new();
    for op in operations {
        let object = match journal_object(&source, &op.text) {
            Ok(object) => object,
            Err(reason) => {
                applied.skipped.push((op.serial, reason));
                continue;
            }
        };
        let slot = (object.class.to_string(), object.key.clone());
        if !last_state.contains_key(&slot) {
            order.push(slot.clone());
        }
        last_state.insert(slot, op.add.then_some(object));
    }
    let generation = store.registry_generation().await?;
    // Only the touched objects' digests are kept as the store streams them: a batch of a
    // few changes on a ten-million-object source holds a few digests, not ten million.
    let touched: std::collections::HashSet<String> = last_state
        .keys()
        .map(|(class, key)| format!("{class}\t{key}"))
        .collect();
    let mut stored: HashMap<(String, String), i64> = HashMap::new();
    let mut probe = String::new();
    crate::store::each_stored_digest(&**store, &source, |class, key, digest| {
        probe.clear();
        probe.push_str(class);
        probe.push('\t');
        probe.push_str(key);
        if touched.contains(probe.as_str()) {
            stored.insert((class.to_string(), key.to_string()), digest);
        }
    })
    .await?;
    let mut changes = RegistryChanges {
        source: source.clone(),
        serial: Some(last.serial),
        at: now_unix(),
        generation,
        ..RegistryChanges::default()
    };
    for slot in order {
        let state = last_state.remove(&slot).flatten();
        match (state, stored.get(&slot)) {
            (Some(object), None) => changes.added.push(object),
            (Some(object), Some(&digest)) if digest != object.digest => {
                changes.changed.push(object)
            }
            (Some(_), Some(_)) => {}
            (None, Some(_)) => changes.deleted.push(slot),
            (None, None) => {}
        }
    }
    applied.added = changes.added.len() as u64;
    applied.changed = changes.changed.len() as u64;
    applied.deleted = changes.deleted.len() as u64;
    store.registry_apply(&changes).await?;
    applied.serial = last.serial;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(serial: i64, add: bool, text: &str) -> Operation {
        Operation {
            serial,
            add,
            text: text.into(),
        }
    }

    #[tokio::test]
    async fn operations_apply_in_order_and_out_of_order_ones_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        let file = dir.path().join("first.db");
        std::fs::write(
            &file,
            "mntner: A-MNT\nsource: IRR\n\nmntner: B-MNT\nsource: IRR\n",
        )
        .unwrap();
        assert!(matches!(
            apply(
                &store,
                "IRR",
                &[op(1, true, "mntner: C-MNT\nsource: IRR\n")]
            )
            .await,
            Err(MirrorError::NotStarted(_))
        ));
        super::super::service::import(&store, "IRR", &[file], Some(10), &mut ())
            .await
            .unwrap();
        let applied = apply(
            &store,
            "irr",
            &[
                op(11, true, "mntner: C-MNT\nsource: IRR\n"),
                op(12, true, "mntner: A-MNT\nremarks: changed\nsource: IRR\n"),
                op(13, false, "mntner: B-MNT\nsource: IRR\n"),
                op(14, true, "mntner: D-MNT\nsource: IRR\n"),
                op(15, false, "mntner: D-MNT\nsource: IRR\n"),
                op(16, true, "aut-num: ASX\nsource: IRR\n"),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            (
                applied.serial,
                applied.added,
                applied.changed,
                applied.deleted
            ),
            (16, 1, 1, 1),
            "D-MNT came and went within the batch"
        );
        assert_eq!(applied.skipped.len(), 1);
        assert_eq!(applied.skipped[0].0, 16);
        assert_eq!(current_serial(&store, "IRR").await.unwrap(), Some(16));
        let keys: Vec<String> = store
            .registry_digests("IRR")
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.key)
            .collect();
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&"a-mnt".to_string()) && keys.contains(&"c-mnt".to_string()));

        // Not after the source's serial, or not increasing: refused whole.
        for batch in [
            vec![op(16, true, "mntner: E-MNT\nsource: IRR\n")],
            vec![
                op(18, true, "mntner: E-MNT\nsource: IRR\n"),
                op(17, true, "mntner: F-MNT\nsource: IRR\n"),
            ],
        ] {
            let refused = apply(&store, "IRR", &batch).await.unwrap_err();
            assert!(matches!(refused, MirrorError::Order(_)), "{refused}");
            assert!(refused.to_string().contains("IRR stays at 16"), "{refused}");
        }
        assert_eq!(store.registry_digests("IRR").await.unwrap().len(), 2);
        assert_eq!(current_serial(&store, "IRR").await.unwrap(), Some(16));
    }
}
