//! Property: whatever commits were made and wherever the file is cut (a crash that kept any
//! prefix of the bytes, plus garbage), open sees a prefix of the commits, never half of one,
//! and the file accepts the next commit.

use crate::storage_common;

use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;
use storage_common::*;
use warmcheck_impl::storage::{layout, Backend, FaultyBackend, Op, VbFile};

fn arb_doc_shape() -> impl Strategy<Value = (u8, usize, usize, Option<u64>)> {
    // (op, key length, value length, expiry)
    (
        0u8..3,
        1usize..20,
        0usize..300,
        proptest::option::of(0u64..100),
    )
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (prop::collection::vec(arb_doc_shape(), 0..5), any::<bool>()),
        1..7,
    )
    .prop_map(|commits| {
        let mut seqno = 0;
        let mut uuid = 1;
        let mut table = vec![(1u64, 0u64)];
        let mut steps = Vec::new();
        for (shapes, new_entry) in commits {
            let docs = shapes
                .into_iter()
                .map(|(op, key_len, value_len, expiry)| {
                    seqno += 1;
                    let key = "k".repeat(key_len);
                    match op {
                        0 => Doc {
                            expiry,
                            ..set(seqno, &key, &"v".repeat(value_len))
                        },
                        1 => delete(seqno, &key),
                        _ => expire(seqno, &key),
                    }
                })
                .collect();
            if new_entry {
                uuid += 1;
                table.retain(|&(_, s)| s <= seqno);
                table.insert(0, (uuid, seqno));
            }
            steps.push(Step {
                docs,
                vbstate: vbstate(&table, seqno),
            });
        }
        steps
    })
}

use warmcheck_impl::storage::Doc;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_cut_of_any_commit_sequence_opens_as_a_commit_prefix(
        steps in arb_steps(),
        cut_fraction in 0.0f64..=1.0,
        garbage in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let fs = FaultyBackend::new();
        let backend: Arc<dyn Backend> = Arc::new(fs.clone());
        let path = Path::new("/d/vb0.couch");
        let mut vb = VbFile::open(backend.clone(), path).unwrap();
        for step in &steps {
            vb.commit(&step.docs, &step.vbstate).unwrap();
        }
        let ends: Vec<u64> = vb.headers().iter().map(|c| c.end).collect();
        let len = *ends.last().unwrap();
        let cut = (layout::MAGIC_LEN as f64 + cut_fraction * (len - layout::MAGIC_LEN) as f64) as u64;
        drop(vb);
        fs.cut(path, cut).unwrap();
        {
            // Garbage after the cut, as a torn sector would leave.
            let mut file = fs.open(path).unwrap();
            file.append(&garbage).unwrap();
        }
        let mut vb = VbFile::open(backend.clone(), path).unwrap();
        let fitting = ends.iter().filter(|&&end| end <= cut).count();
        let seen = Seen::of(&vb);
        prop_assert_eq!(&seen, &expected_after(&steps, fitting));
        prop_assert!(seen.docs.iter().all(|d| (d.op == Op::Set) == d.value.is_some()));
        let (loaded, docs) = VbFile::open_and_load(backend.clone(), path).unwrap();
        prop_assert_eq!(&docs, &seen.docs, "the one-pass load agrees with open + docs()");
        prop_assert_eq!(loaded.headers(), vb.headers());

        // The next commit goes after the recovered prefix.
        let next = Step {
            docs: vec![set(seen.high_seqno + 1, "next", "value")],
            vbstate: vbstate(&[(99, seen.high_seqno)], seen.high_seqno + 1),
        };
        vb.commit(&next.docs, &next.vbstate).unwrap();
        let mut with_next = steps[..fitting].to_vec();
        with_next.push(next);
        prop_assert_eq!(
            Seen::of(&VbFile::open(backend, path).unwrap()),
            expected_after(&with_next, with_next.len())
        );
    }
}
