//! Properties of the store: replay equals the live graph, compaction changes nothing visible,
//! and the adjacency agrees with a naive model under any sequence of changes. Inside the crate,
//! because applying events is the engine's alone.

use crate::{Graph, GraphView};
use proptest::prelude::*;
use schema::{Actor, Command, EdgeKind, Event, Id, IdGenerator, MaskKind};
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
enum Op {
    Follow(usize, usize),
    Unfollow(usize, usize),
    Rate(usize, usize, i8),
    Erase(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..12usize, 0..12usize).prop_map(|(a, b)| Op::Follow(a, b)),
        10 => (0..12usize, 0..12usize).prop_map(|(a, b)| Op::Unfollow(a, b)),
        10 => (0..12usize, 0..12usize, -10..=10i8).prop_map(|(a, b, r)| Op::Rate(a, b, r)),
        1 => (0..12usize).prop_map(Op::Erase),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_equals_live_and_matches_a_model(ops in proptest::collection::vec(op(), 0..400), bulk in any::<bool>()) {
        // Decide and apply, keeping the events as the log would.
        fn run(graph: &mut Graph, log: &mut Vec<Event>, command: Command) -> Result<(), schema::Rejection> {
            let events = schema::decide(command, 0, &GraphView(graph))?;
            for event in &events {
                graph.apply(event.clone()).unwrap();
            }
            log.extend(events);
            Ok(())
        }
        let mut ids = IdGenerator::new(2);
        let mut next = || ids.next(schema::EPOCH_MS + 1);
        let mut live = Graph::new();
        let mut log: Vec<Event> = Vec::new();
        let mut people = Vec::new();
        if bulk {
            // Start from a bulk-loaded base so tombstones and deltas are exercised on a CSR.
            let parsed = crate::import::from_edges("base", EdgeKind::Follows, (0..30).map(|i| i % 6).collect(), (0..30).map(|i| (i * 7 + 1) % 9).collect(), &live, &|n| (0..n).map(|_| Id(0)).collect::<Vec<_>>().into_iter().enumerate().map(|(i, _)| Id(1_000_000 + i as u64)).collect()).unwrap();
            run(&mut live, &mut log, Command::Import(parsed.batch)).unwrap();
        }
        for i in 0..12 {
            let user = next();
            run(&mut live, &mut log, Command::RegisterUser { user }).unwrap();
            let mask = next();
            run(&mut live, &mut log, Command::CreateMask { user, mask, kind: MaskKind::Public, handle: format!("m_{i}"), display_name: String::new(), bio: String::new() }).unwrap();
            people.push(Actor { user, mask });
        }
        let mut follows: BTreeSet<(usize, usize)> = BTreeSet::new();
        for op in ops {
            let result = match op {
                Op::Follow(a, b) => run(&mut live, &mut log, Command::Follow { actor: people[a], target: people[b].mask }).inspect(|_| { follows.insert((a, b)); }),
                Op::Unfollow(a, b) => run(&mut live, &mut log, Command::Unfollow { actor: people[a], target: people[b].mask }).inspect(|_| { follows.remove(&(a, b)); }),
                Op::Rate(a, b, r) => run(&mut live, &mut log, Command::Rate { actor: people[a], target: people[b].mask, rating: r }),
                Op::Erase(a) => run(&mut live, &mut log, Command::EraseAccount { user: people[a].user, hide_works: a % 2 == 0, handle_cooling_off_ms: 1 }),
            };
            let _ = result;
        }
        // The model agrees with the live graph, in both directions.
        for (a, pa) in people.iter().enumerate() {
            let v = live.index_of(pa.mask).unwrap();
            let mut out: Vec<Id> = live.out(EdgeKind::Follows, v).map(|w| live.id_at(w)).collect();
            out.sort();
            let expected: Vec<Id> = { let mut e: Vec<Id> = follows.iter().filter(|(x, _)| *x == a).map(|(_, b)| people[*b].mask).collect(); e.sort(); e };
            prop_assert_eq!(out, expected);
            let incoming = live.inn(EdgeKind::Follows, v).filter(|&w| people.iter().any(|p| live.id_at(w) == p.mask)).count();
            prop_assert_eq!(incoming, follows.iter().filter(|(_, y)| *y == a).count());
        }
        // Replaying the events gives the same state — without the envelopes of erased
        // accounts, whose keys are shredded; so does compacting.
        let erased: BTreeSet<Id> = log.iter().filter_map(|e| match e { Event::Erased(x) => Some(x.user), _ => None }).collect();
        let mut replayed = Graph::new();
        for event in &log {
            if matches!(event, Event::Owned { owner, .. } if erased.contains(owner)) {
                continue;
            }
            replayed.apply(event.clone()).unwrap();
        }
        prop_assert_eq!(replayed.state_hash(), live.state_hash());
        let mut compacted = live.clone();
        compacted.compact();
        prop_assert_eq!(compacted.state_hash(), live.state_hash());
    }
}
