//! The governance AI: it looks over the graph at each epoch for what a world's moderators should
//! see, and opens cases with its evidence — it never decides them (a moderator acts on a flagged
//! case, or leaves it).
//!
//! Three patterns:
//! - **voting rings** — groups joined by reciprocal endorsement (a mask endorses or rates the
//!   other, or one of its works, positively, and back), dense inside and with few ties out: the
//!   connected groups of the reciprocal graph whose density (reciprocal pairs over possible
//!   pairs) is at least [`PatrolConfig::density_min`] and whose share of positive ties that
//!   leave the group is at most [`PatrolConfig::outside_max`];
//! - **serial voting** — one mask's endorsements concentrated on another's works (at least
//!   [`PatrolConfig::serial_min`] of them, and at least [`PatrolConfig::serial_share`] of all its
//!   endorsements of works);
//! - **sockpuppet-like masks** — trust's degree-normalised sybil flag.
//!
//! Every finding carries its evidence as text (the pairs, the counts, the scores), and names a
//! world: the one most of the masks involved belong to.

use crate::TrustScores;
use graph_engine::Graph;
use schema::{EdgeKind, VertexKind};
use std::collections::{BTreeMap, HashMap};

/// The patrol's thresholds.
#[derive(Clone, Copy, Debug)]
pub struct PatrolConfig {
    /// The fewest masks in a ring.
    pub ring_min: usize,
    /// The least density of a ring.
    pub density_min: f64,
    /// The largest share of a ring's positive ties that leave it.
    pub outside_max: f64,
    /// The fewest endorsements of one author's works that make serial voting.
    pub serial_min: usize,
    /// The least share of a mask's endorsements of works that go to one author.
    pub serial_share: f64,
    /// The most findings reported (largest first).
    pub findings_max: usize,
}

impl Default for PatrolConfig {
    fn default() -> PatrolConfig {
        PatrolConfig {
            ring_min: 3,
            density_min: 0.05,
            outside_max: 0.2,
            serial_min: 5,
            serial_share: 0.5,
            findings_max: 1_000,
        }
    }
}

/// What a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// A dense reciprocal-endorsement group with few ties out.
    VotingRing,
    /// One mask's endorsements concentrated on another's works.
    SerialVoting,
    /// Trust's sybil flag.
    Sockpuppet,
}

impl Pattern {
    /// The rule a case opened for it names.
    pub fn rule(self) -> &'static str {
        match self {
            Pattern::VotingRing => "voting ring",
            Pattern::SerialVoting => "serial voting",
            Pattern::Sockpuppet => "sockpuppet-like mask",
        }
    }
}

/// One thing the patrol found.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The pattern.
    pub pattern: Pattern,
    /// The masks involved (dense indexes, ascending).
    pub masks: Vec<u32>,
    /// The world most of them belong to, if any.
    pub world: Option<u32>,
    /// What the patrol saw: scores, counts and the edges behind it.
    pub evidence: Vec<String>,
}

/// The most edges named in one finding's evidence.
const EVIDENCE_EDGES_MAX: usize = 20;

/// Positive ties of mask `v`: masks it endorses or rates above zero, directly or through a work.
fn ties(graph: &Graph, v: u32) -> impl Iterator<Item = u32> + '_ {
    let endorsed = graph.out(EdgeKind::Endorses, v).flat_map(move |t| {
        let through_work = (graph.kind_at(t) == VertexKind::Work).then(|| graph.inn(EdgeKind::Authored, t));
        let direct = (graph.kind_at(t) == VertexKind::Mask).then_some(t);
        direct.into_iter().chain(through_work.into_iter().flatten())
    });
    let rated = graph.out_edges(EdgeKind::Rates, v).filter(|(_, p)| p.weight.is_some_and(|w| w > 0.0)).map(|(t, _)| t);
    endorsed.chain(rated).filter(move |&t| t != v)
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

/// The world most of `masks` are members of.
fn home_world(graph: &Graph, masks: &[u32]) -> Option<u32> {
    let mut count: BTreeMap<u32, usize> = BTreeMap::new();
    for &m in masks {
        for w in graph.out(EdgeKind::MemberOf, m) {
            *count.entry(w).or_default() += 1;
        }
    }
    count.into_iter().max_by_key(|&(w, n)| (n, std::cmp::Reverse(w))).map(|(w, _)| w)
}

/// Looks over `graph` with the epoch's `trust` and reports what it finds, deterministically.
pub fn patrol(graph: &Graph, trust: &TrustScores, config: &PatrolConfig) -> Vec<Finding> {
    let n = graph.vertex_count() as u32;
    let masks: Vec<u32> = (0..n).filter(|&v| graph.kind_at(v) == VertexKind::Mask).collect();
    let handle = |v: u32| {
        graph
            .public_prop(v, "handle")
            .and_then(schema::Value::as_str)
            .map_or_else(|| graph.id_at(v).to_string(), str::to_owned)
    };
    // Directed positive ties, deduplicated.
    let mut out: HashMap<u32, Vec<u32>> = HashMap::new();
    for &m in &masks {
        let mut t: Vec<u32> = ties(graph, m).collect();
        t.sort_unstable();
        t.dedup();
        if !t.is_empty() {
            out.insert(m, t);
        }
    }
    let mut inn: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&a, targets) in &out {
        for &t in targets {
            inn.entry(t).or_default().push(a);
        }
    }
    let tied = |a: u32, b: u32| out.get(&a).is_some_and(|t| t.binary_search(&b).is_ok());
    // The reciprocal graph's groups.
    let mut parent: Vec<u32> = (0..n).collect();
    let mut reciprocal: Vec<(u32, u32)> = Vec::new();
    for (&a, targets) in &out {
        for &b in targets {
            if a < b && tied(b, a) {
                reciprocal.push((a, b));
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                if ra != rb {
                    parent[ra.max(rb) as usize] = ra.min(rb);
                }
            }
        }
    }
    reciprocal.sort_unstable();
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(a, b) in &reciprocal {
        for v in [a, b] {
            let root = find(&mut parent, v);
            groups.entry(root).or_default().push(v);
        }
    }
    let mut findings = Vec::new();
    for (_, mut group) in groups {
        group.sort_unstable();
        group.dedup();
        let size = group.len();
        if size < config.ring_min {
            continue;
        }
        let inside = |v: u32| group.binary_search(&v).is_ok();
        let pairs: Vec<(u32, u32)> = reciprocal.iter().copied().filter(|&(a, _)| inside(a)).collect();
        let density = pairs.len() as f64 / (size * (size - 1) / 2) as f64;
        let (mut ties_in, mut ties_out) = (0usize, 0usize);
        for &m in &group {
            for &t in out.get(&m).into_iter().flatten() {
                if inside(t) { ties_in += 1 } else { ties_out += 1 }
            }
        }
        // Ties into the group from outside count as crossing its edge too.
        for &m in &group {
            ties_out += inn.get(&m).into_iter().flatten().filter(|&&a| !inside(a)).count();
        }
        let outside = ties_out as f64 / (ties_in + ties_out).max(1) as f64;
        if density < config.density_min || outside > config.outside_max {
            continue;
        }
        let mut evidence = vec![format!(
            "{size} masks joined by {} reciprocal endorsements: density {density:.3} (≥ {:.3}), {:.1}% of their positive ties cross the group's edge (≤ {:.1}%)",
            pairs.len(),
            config.density_min,
            outside * 100.0,
            config.outside_max * 100.0
        )];
        let mean_trust =
            group.iter().map(|&m| trust.trust.get(m as usize).copied().unwrap_or(0.0)).sum::<f64>() / size as f64;
        evidence.push(format!(
            "mean trust {mean_trust:.3e}; sybil-flagged: {}",
            group.iter().filter(|&&m| trust.sybil.get(m as usize) == Some(&true)).count()
        ));
        evidence
            .extend(pairs.iter().take(EVIDENCE_EDGES_MAX).map(|&(a, b)| format!("@{} ⇄ @{}", handle(a), handle(b))));
        findings.push(Finding {
            pattern: Pattern::VotingRing,
            world: home_world(graph, &group),
            masks: group,
            evidence,
        });
    }
    // Serial voting.
    for &m in &masks {
        let mut by_author: BTreeMap<u32, usize> = BTreeMap::new();
        let mut total = 0usize;
        for w in graph.out(EdgeKind::Endorses, m).filter(|&w| graph.kind_at(w) == VertexKind::Work) {
            total += 1;
            for a in graph.inn(EdgeKind::Authored, w) {
                if a != m {
                    *by_author.entry(a).or_default() += 1;
                }
            }
        }
        if let Some((&author, &count)) = by_author.iter().max_by_key(|&(a, c)| (*c, std::cmp::Reverse(*a)))
            && count >= config.serial_min
            && count as f64 >= config.serial_share * total as f64
        {
            let masks = if m < author { vec![m, author] } else { vec![author, m] };
            findings.push(Finding {
                pattern: Pattern::SerialVoting,
                world: home_world(graph, &[author]),
                masks,
                evidence: vec![format!(
                    "@{} endorsed {count} of @{}'s works: {:.0}% of its {total} endorsements of works (≥ {} and ≥ {:.0}%)",
                    handle(m),
                    handle(author),
                    100.0 * count as f64 / total as f64,
                    config.serial_min,
                    config.serial_share * 100.0
                )],
            });
        }
    }
    // Sockpuppet-like masks.
    for &m in &masks {
        if trust.sybil.get(m as usize) == Some(&true) {
            findings.push(Finding {
                pattern: Pattern::Sockpuppet,
                world: home_world(graph, &[m]),
                masks: vec![m],
                evidence: vec![format!(
                    "@{}: trust {:.3e} with {} masks trusting it — the sybil flag (trust far below what its in-degree would give)",
                    handle(m),
                    trust.trust.get(m as usize).copied().unwrap_or(0.0),
                    graph.in_degree(EdgeKind::Rates, m) + graph.in_degree(EdgeKind::Endorses, m) + graph.in_degree(EdgeKind::Follows, m)
                )],
            });
        }
    }
    findings
        .sort_by(|a, b| b.masks.len().cmp(&a.masks.len()).then(a.pattern.cmp(&b.pattern)).then(a.masks.cmp(&b.masks)));
    findings.truncate(config.findings_max);
    findings
}
