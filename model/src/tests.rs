use super::*;
use stateright::Model;
use Action::*;

fn design(persist_entry: PersistEntry, shutdown_flag: ShutdownFlag) -> Variant {
    Variant {
        persist_entry,
        shutdown_flag,
    }
}

/// Run `actions` from the initial state, asserting each is enabled; return the final state.
fn run(model: &Warmup, actions: &[Action]) -> State {
    let mut s = model.init_states().remove(0);
    for (i, a) in actions.iter().enumerate() {
        let mut enabled = Vec::new();
        model.actions(&s, &mut enabled);
        assert!(
            enabled.contains(a),
            "step {}: {a:?} not enabled; enabled: {enabled:?}",
            i + 1
        );
        s = model.next_state(&s, a.clone()).unwrap();
    }
    s
}

const E: Key = Key(0);
const K: Key = Key(1);

/// The domain brief's section 5, action for action.
fn brief_story() -> Vec<Action> {
    vec![
        ClientSets {
            vb: 0,
            key: E,
            ttl: true,
        },
        FlusherCommits { vb: 0 },
        ClientSets {
            vb: 0,
            key: K,
            ttl: false,
        },
        ReplicaRequestsStream { replica: 0, vb: 0 },
        ReplicaReceives {
            replica: 0,
            vb: 0,
            seqno: 1,
        },
        ReplicaReceives {
            replica: 0,
            vb: 0,
            seqno: 2,
        },
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        ClockAdvances,
        ItemExpires { vb: 0, key: E },
        FlusherCommits { vb: 0 },
        ActiveCrashes,
        WarmupInitializes,
        WarmupCreatesVBuckets,
        WarmupPopulatesVBucketMap,
        ReplicaRequestsStream { replica: 0, vb: 0 },
    ]
}

#[test]
fn brief_story_diverges_in_v651() {
    let model = Bounds::default().into_model(Variant::preset("v6.5.1").unwrap());
    let s = run(&model, &brief_story());
    println!("{s:#?}");
    assert!(!properties::no_replica_diverges(&s));
}

#[test]
fn sizes() {
    println!(
        "State {} Vb {} ActiveVb {} DiskVb {} ReplicaVb {} Table {} Vector<Mutation> {}",
        std::mem::size_of::<State>(),
        std::mem::size_of::<Vb>(),
        std::mem::size_of::<ActiveVb>(),
        std::mem::size_of::<DiskVb>(),
        std::mem::size_of::<ReplicaVb>(),
        std::mem::size_of::<failover::Table>(),
        std::mem::size_of::<Vector<Mutation>>()
    );
}
